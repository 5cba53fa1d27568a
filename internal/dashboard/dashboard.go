// Package dashboard is the app's web page: one HTML document with its
// style sheet and script inlined, embedded in the binary (no CDN, nothing
// fetched at build time). The page calls the HTTP API from the browser;
// served with ?code=<function key> it passes the key on to every call.
package dashboard

import (
	_ "embed"
	"strings"
)

var (
	//go:embed static/index.html
	indexHTML string
	//go:embed static/style.css
	styleCSS string
	//go:embed static/app.js
	appJS string
)

// Page is the dashboard: index.html with style.css and app.js inlined,
// so that one function answers it.
var Page = strings.NewReplacer(
	"<!-- style.css -->", "<style>\n"+styleCSS+"</style>",
	"<!-- app.js -->", "<script>\n"+appJS+"</script>",
).Replace(indexHTML)
