module github.com/larder-dev/larder/plugins/sqlite

go 1.25.0

require (
	github.com/larder-dev/larder v0.0.0
	github.com/larder-dev/larder/abi v0.0.0
	github.com/larder-dev/larder/sdk-go v0.0.0
	github.com/mattn/go-sqlite3 v1.14.53
)

require google.golang.org/protobuf v1.36.12 // indirect

replace (
	github.com/larder-dev/larder => ../..
	github.com/larder-dev/larder/abi => ../../abi
	github.com/larder-dev/larder/sdk-go => ../../sdk-go
)
