module github.com/larder-dev/larder/abi

go 1.25
