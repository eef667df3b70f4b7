package bus

// Permanent exposes the classification of publish errors to the tests.
var Permanent = permanent
