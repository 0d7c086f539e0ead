module github.com/larder-dev/larder/plugins/postgres_offline

go 1.26.0

require (
	github.com/larder-dev/larder/abi v0.0.0
	github.com/larder-dev/larder/sdk-go v0.0.0
)

replace (
	github.com/larder-dev/larder => ../..
	github.com/larder-dev/larder/abi => ../../abi
	github.com/larder-dev/larder/sdk-go => ../../sdk-go
)
