module github.com/larder-dev/larder

go 1.25.0

require github.com/larder-dev/larder/abi v0.0.0

require (
	github.com/apache/arrow-go/v18 v18.8.0 // indirect
	github.com/mattn/go-sqlite3 v1.14.53 // indirect
	github.com/tetratelabs/wazero v1.12.0 // indirect
	go.yaml.in/yaml/v3 v3.0.6 // indirect
	golang.org/x/sys v0.47.0 // indirect
)

replace github.com/larder-dev/larder/abi => ./abi
