// Package deploy builds tinyhead's deployment package for Azure Functions
// and holds what the deployment is checked against.
//
// The package is a zip whose root is what the Functions host reads from
// the app's root directory (on Flex Consumption, the zip is the app):
//
//	host.json                  custom handler + extension bundle
//	handler                    the custom handler, linux/amd64, cgo (mode 0755)
//	lib/libonnxruntime.so      ONNX Runtime (the handler's default TINYHEAD_ORT_LIB)
//	model/                     the embedding model (the default TINYHEAD_MODEL_DIR):
//	                           model.json and the files it names (model.onnx, vocab.json)
//	<Function>/function.json   one folder per function, copied from functions/<Function>/
//
// The paths inside the package are the handler's defaults (config.Load
// resolves them against the executable's directory), so the deployed app
// sets no path settings at all.
//
// Build compiles the handler with `go build` (CGO_ENABLED=1, GOOS=linux,
// GOARCH=amd64) against a Debian 11 sysroot, so that it needs glibc 2.31 at
// most (see MaxGlibc), stages the tree above into a directory and writes the
// same tree as a zip with archive/zip, which infra/hooks/postdeploy.sh
// publishes (`az functionapp deployment source config-zip`). The zip
// is written here rather than with the zip tool so that the file modes,
// the order of the entries and the layout are the same on every machine,
// and so that the test builds exactly what scripts/package.sh ships.
//
// The checks of the deployment against the handler (function.json and
// host.json against the routes the handler serves; the app settings in
// infra/ against the settings the handler and the host read; the package
// itself, started and invoked as the host would) are this package's tests;
// what only they use (the decision for every app setting, the NCRONTAB
// check, the app settings parser) lives in _test.go files, so the package
// command links nothing but the build.
package deploy
