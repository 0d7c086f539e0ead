//! Host capabilities (spec §6): named resources the operator granted, the log and the clock.
//! On `wasm32` these call the host imports of module `larder_v1`; elsewhere they call the
//! in-process [`crate::mock`] host, so plugin code is the same in both.

use crate::status::{Error, Status};

/// Log levels of the `log` host function.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub enum LogLevel {
    Debug = 0,
    Info = 1,
    Warn = 2,
    Error = 3,
}

/// An opened capability handle.
#[derive(Clone, Copy, Debug)]
pub struct Capability {
    handle: u32,
}

impl Capability {
    /// Opens the capability `name` of `kind`; PERMISSION_DENIED if the operator did not grant it.
    pub fn open(kind: &str, name: &str) -> Result<Capability, Error> {
        let h = sys::cap_open(kind, name);
        if h < 0 {
            let status = Status::from_code(-h);
            return Err(Error::new(status, format!("opening capability {} {:?}", kind, name)));
        }
        Ok(Capability { handle: h as u32 })
    }

    /// Runs operation `op` with request bytes `req` and returns the response bytes.
    pub fn call(&self, op: u32, req: &[u8]) -> Result<Vec<u8>, Error> {
        let n = sys::cap_call(self.handle, op, req);
        if n < 0 {
            let msg = sys::cap_take_all(1 << 16);
            return Err(Error::new(Status::from_code(-n as i32), String::from_utf8_lossy(&msg).into_owned()));
        }
        let out = sys::cap_take_all(n as usize);
        if out.len() != n as usize {
            return Err(Error::internal(format!("capability returned {} of {} response bytes", out.len(), n)));
        }
        Ok(out)
    }
}

/// Writes a message to the host's plugin log (size-capped by the host).
pub fn log(level: LogLevel, msg: &str) {
    sys::log(level as u32, msg);
}

/// The host's wall clock, in microseconds since the Unix epoch.
pub fn now_unix_micros() -> i64 {
    sys::now_unix_micros()
}

/// Microseconds left before the current call's deadline, or None if it has none.
pub fn deadline_remaining_micros() -> Option<i64> {
    let v = sys::deadline_remaining_micros();
    if v < 0 {
        None
    } else {
        Some(v)
    }
}

#[cfg(target_arch = "wasm32")]
mod sys {
    #[link(wasm_import_module = "larder_v1")]
    extern "C" {
        #[link_name = "cap_open"]
        fn raw_cap_open(kind_ptr: u32, kind_len: u32, name_ptr: u32, name_len: u32) -> i32;
        #[link_name = "cap_call"]
        fn raw_cap_call(handle: u32, op: u32, req_ptr: u32, req_len: u32) -> i64;
        #[link_name = "cap_take"]
        fn raw_cap_take(dst_ptr: u32, dst_len: u32) -> i32;
        #[link_name = "log"]
        fn raw_log(level: u32, ptr: u32, len: u32);
        #[link_name = "now_unix_micros"]
        fn raw_now_unix_micros() -> i64;
        #[link_name = "deadline_remaining_micros"]
        fn raw_deadline_remaining_micros() -> i64;
    }

    pub fn cap_open(kind: &str, name: &str) -> i32 {
        unsafe { raw_cap_open(kind.as_ptr() as u32, kind.len() as u32, name.as_ptr() as u32, name.len() as u32) }
    }
    pub fn cap_call(handle: u32, op: u32, req: &[u8]) -> i64 {
        unsafe { raw_cap_call(handle, op, req.as_ptr() as u32, req.len() as u32) }
    }
    pub fn cap_take_all(n: usize) -> Vec<u8> {
        // Not zeroed first: the host writes the bytes it reports (a pipeline response can
        // be megabytes, and zeroing it is a loop the guest would pay for nothing).
        let mut out: Vec<u8> = Vec::with_capacity(n);
        let got = unsafe { raw_cap_take(out.as_mut_ptr() as u32, n as u32) };
        let got = if got < 0 { 0 } else { (got as usize).min(n) };
        // SAFETY: cap_take copied `got` ≤ n bytes into the buffer's first `got` bytes.
        unsafe { out.set_len(got) };
        out
    }
    pub fn log(level: u32, msg: &str) {
        unsafe { raw_log(level, msg.as_ptr() as u32, msg.len() as u32) }
    }
    pub fn now_unix_micros() -> i64 {
        unsafe { raw_now_unix_micros() }
    }
    pub fn deadline_remaining_micros() -> i64 {
        unsafe { raw_deadline_remaining_micros() }
    }
}

#[cfg(not(target_arch = "wasm32"))]
mod sys {
    pub use crate::mock::host::{cap_call, cap_open, cap_take_all, deadline_remaining_micros, log, now_unix_micros};
}
