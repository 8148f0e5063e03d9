package redis

// BindingID exposes bindingID to the tests that inspect the key layout.
var BindingID = bindingID
