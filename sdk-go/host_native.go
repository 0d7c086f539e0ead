//go:build !wasip1

package sdk

import "github.com/larder-dev/larder/sdk-go/internal/hostlink"

// host returns the mock host installed by sdktest. Outside sdktest there is no host: plugin
// code that reaches for a capability natively is a test set-up mistake, so say so loudly.
func host() hostlink.Transport {
	t := hostlink.Current()
	if t == nil {
		panic("sdk: no host; natively, plugin code runs only under sdktest (sdktest.NewOnlineStore)")
	}
	return t
}
