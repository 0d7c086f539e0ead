/// Exports the common ABI exports for plugin type `$t` of kind `$kind`. Used by the kind macros.
#[doc(hidden)]
#[macro_export]
macro_rules! __export_common {
    ($t:ty, $kind:expr, $id:expr, $ver:expr, [$(($ck:expr, $cn:expr, [$($ph:expr),*])),*]) => {
        thread_local! {
            #[allow(dead_code)]
            static __LARDER_PLUGIN: ::std::cell::RefCell<$t> = ::std::cell::RefCell::new(<$t as ::std::default::Default>::default());
        }

        #[doc(hidden)]
        #[allow(dead_code)]
        pub fn __larder_manifest() -> ::std::string::String {
            $crate::__private::manifest($id, $kind, $ver, &[$(($ck, $cn, &[$($ph),*])),*])
        }

        #[cfg(target_arch = "wasm32")]
        #[no_mangle]
        pub extern "C" fn larder_abi_v1_0() {}

        #[cfg(target_arch = "wasm32")]
        #[no_mangle]
        pub extern "C" fn larder_alloc(size: u32) -> u32 {
            $crate::__private::wasm::alloc(size)
        }

        #[cfg(target_arch = "wasm32")]
        #[no_mangle]
        pub extern "C" fn larder_free(ptr: u32, size: u32) {
            $crate::__private::wasm::free(ptr, size)
        }

        #[cfg(target_arch = "wasm32")]
        #[no_mangle]
        pub extern "C" fn larder_describe() -> u64 {
            $crate::__private::finish(Ok(__larder_manifest().into_bytes()));
            $crate::__private::wasm::result_region()
        }

        #[cfg(target_arch = "wasm32")]
        #[no_mangle]
        pub extern "C" fn larder_init(ptr: u32, len: u32) -> i32 {
            let input = $crate::__private::wasm::take_input(ptr, len);
            $crate::__private::finish(__LARDER_PLUGIN.with(|p| {
                let cfg = $crate::__private::parse_config(&input)?;
                p.borrow_mut().init(&cfg).map(|_| ::std::vec::Vec::new())
            }))
        }

        #[cfg(target_arch = "wasm32")]
        #[no_mangle]
        pub extern "C" fn larder_last_error() -> u64 {
            $crate::__private::wasm::error_region()
        }

        #[cfg(target_arch = "wasm32")]
        #[no_mangle]
        pub extern "C" fn larder_result() -> u64 {
            $crate::__private::wasm::result_region()
        }
    };
}

/// Exports a [`Transformation`](crate::Transformation) type as a Larder plugin:
/// `export_transformation!(MyOdfv, id = "my_odfv", version = "0.1.0");`
#[macro_export]
macro_rules! export_transformation {
    ($t:ty, id = $id:expr, version = $ver:expr) => {
        $crate::__export_common!($t, $crate::transform::KIND, $id, $ver, []);

        #[cfg(target_arch = "wasm32")]
        #[no_mangle]
        pub extern "C" fn larder_transform(ptr: u32, len: u32) -> i32 {
            let input = $crate::__private::wasm::take_input(ptr, len);
            $crate::__private::finish(
                __LARDER_PLUGIN.with(|p| $crate::__private::transform_bytes(&mut *p.borrow_mut(), &input)),
            )
        }
    };
}

/// Exports an [`OnlineStore`](crate::OnlineStore) type as a Larder plugin, with the
/// capabilities it asks the operator for as `(kind, name, [phases])`:
/// `export_online_store!(MyStore, id = "mystore", version = "0.1.0",
///     capabilities = [("redis", "online", ["serve", "apply", "teardown"])]);`
#[macro_export]
macro_rules! export_online_store {
    ($t:ty, id = $id:expr, version = $ver:expr) => {
        $crate::export_online_store!($t, id = $id, version = $ver, capabilities = []);
    };
    ($t:ty, id = $id:expr, version = $ver:expr, capabilities = [$(($ck:expr, $cn:expr, [$($ph:expr),*])),*]) => {
        $crate::__export_common!($t, $crate::online::KIND, $id, $ver, [$(($ck, $cn, [$($ph),*])),*]);

        #[cfg(target_arch = "wasm32")]
        #[no_mangle]
        pub extern "C" fn larder_online_update(ptr: u32, len: u32) -> i32 {
            let input = $crate::__private::wasm::take_input(ptr, len);
            $crate::__private::finish(__LARDER_PLUGIN.with(|p| {
                let req = $crate::__private::parse_update(&input)?;
                p.borrow_mut().update(&req).map(|_| ::std::vec::Vec::new())
            }))
        }

        #[cfg(target_arch = "wasm32")]
        #[no_mangle]
        pub extern "C" fn larder_online_teardown(ptr: u32, len: u32) -> i32 {
            let input = $crate::__private::wasm::take_input(ptr, len);
            $crate::__private::finish(__LARDER_PLUGIN.with(|p| {
                let req = $crate::__private::parse_update(&input)?;
                p.borrow_mut().teardown(&req).map(|_| ::std::vec::Vec::new())
            }))
        }

        #[cfg(target_arch = "wasm32")]
        #[no_mangle]
        pub extern "C" fn larder_online_write(ptr: u32, len: u32) -> i32 {
            let input = $crate::__private::wasm::take_input(ptr, len);
            $crate::__private::finish(__LARDER_PLUGIN.with(|p| {
                let req = $crate::__private::parse_write(&input)?;
                p.borrow_mut().write(&req).map(|_| ::std::vec::Vec::new())
            }))
        }

        #[cfg(target_arch = "wasm32")]
        #[no_mangle]
        pub extern "C" fn larder_online_read(ptr: u32, len: u32) -> i32 {
            let input = $crate::__private::wasm::take_input(ptr, len);
            $crate::__private::finish(
                __LARDER_PLUGIN.with(|p| $crate::__private::read_bytes(&mut *p.borrow_mut(), &input)),
            )
        }
    };
}
