module github.com/larder-dev/larder/sdk-go

go 1.25.0

require github.com/larder-dev/larder/abi v0.0.0

replace github.com/larder-dev/larder/abi => ../abi

require github.com/larder-dev/larder v0.0.0

require github.com/mattn/go-sqlite3 v1.14.53 // indirect

replace github.com/larder-dev/larder => ../
