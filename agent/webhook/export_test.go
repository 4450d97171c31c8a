package webhook

// ScanProduct exposes scanProduct to the external tests.
var ScanProduct = scanProduct
