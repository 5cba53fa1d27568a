package deploy_test

import (
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/tinyhead/tinyhead/internal/app"
	"github.com/tinyhead/tinyhead/internal/config"
	"github.com/tinyhead/tinyhead/internal/deploy"
)

// The Bicep CLI cannot run here, so these tests read the files as text and
// check the properties the deployment depends on. They are no substitute
// for `az bicep build` / `azd provision`, but they fail when one of the
// decisions documented in the README is edited away.

// infraFiles returns the text of every file under infra/, by path.
func infraFiles(t *testing.T) map[string]string {
	t.Helper()
	root := repoRoot(t)
	files := map[string]string{}
	err := filepath.WalkDir(filepath.Join(root, "infra"), func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		raw, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		files[filepath.ToSlash(rel)] = string(raw)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// TestInfraHoldsNoSecrets: no secure parameter, no key or password
// property, no key listing, no connection string with a key, no SAS.
func TestInfraHoldsNoSecrets(t *testing.T) {
	forbidden := []struct {
		re  *regexp.Regexp
		why string
	}{
		{regexp.MustCompile(`@secure\(\)`), "a secure parameter is a secret passed in"},
		{regexp.MustCompile(`(?i)\blist(Keys|Secrets|AccountSas|ServiceSas)\s*\(`), "reads a key or a SAS"},
		{regexp.MustCompile(`(?i)AccountKey\s*=`), "a storage connection string with a key"},
		{regexp.MustCompile(`(?i)SharedAccessSignature|\bsig=`), "a SAS token"},
		{regexp.MustCompile(`(?i)password\w*\s*:`), "a password property"},
		{regexp.MustCompile(`(?i)administratorLogin\s*:`), "a SQL login (the server is Microsoft Entra-only)"},
		{regexp.MustCompile(`(?i)^\s*AzureWebJobsStorage\s*:`), "AzureWebJobsStorage as a connection string"},
	}
	for path, text := range infraFiles(t) {
		for n, line := range strings.Split(text, "\n") {
			code := line
			if i := strings.Index(code, "//"); i >= 0 && !strings.Contains(code[:i], "'") {
				code = code[:i] // a Bicep comment (not inside a string)
			}
			if strings.HasPrefix(strings.TrimSpace(code), "#") {
				continue // a shell comment
			}
			for _, f := range forbidden {
				if f.re.MatchString(code) {
					t.Errorf("%s:%d: %s: %s", path, n+1, f.why, strings.TrimSpace(line))
				}
			}
		}
	}
}

// TestInfraResources checks the resources the issue asks for, and the
// properties the deployment depends on.
func TestInfraResources(t *testing.T) {
	files := infraFiles(t)
	tests := []struct {
		file, pattern, what string
	}{
		{"infra/main.bicep", `targetScope = 'subscription'`, "a subscription deployment (azd and az deployment sub create)"},
		{"infra/main.bicep", `(?s)name: 'FC1'\s+tier: 'FlexConsumption'`, "the Flex Consumption plan"},
		{"infra/main.bicep", `runtimeName: 'custom'`, "the custom handler runtime"},
		{"infra/main.bicep", `runtimeVersion: '1.0'`, "custom runtime version 1.0"},
		{"infra/main.bicep", `allowSharedKeyAccess: false`, "shared-key access disabled"},
		{"infra/main.bicep", `allowBlobPublicAccess: false`, "no anonymous blob access"},
		{"infra/main.bicep", `param incomingContainerName string = '` + config.IncomingContainer + `'`, "the incoming container, named as the handler names it"},
		{"infra/main.bicep", `param modelsContainerName string = '` + config.ModelsContainer + `'`, "the models container, named as the handler names it"},
		{"infra/main.bicep", `\{ name: incomingContainerName`, "the incoming container created"},
		{"infra/main.bicep", `\{ name: modelsContainerName`, "the models container created"},
		{"infra/main.bicep", `disableLocalAuth: true`, "Application Insights with Microsoft Entra auth only"},
		{"infra/main.bicep", `topicType: 'Microsoft.Storage.StorageAccounts'`, "the Event Grid system topic of the storage account"},
		{"infra/main.bicep", `enableQueue: true`, "queue role for the blob trigger's poison queue"},
		{"infra/main.bicep", `enableTable: false`, "no table role"},
		{"infra/main.bicep", `user-assigned-identity`, "a user-assigned managed identity"},
		{"infra/app/api.bicep", `kind = 'functionapp,linux'`, "a Linux function app"},
		{"infra/app/api.bicep", `(?m)^\s+appSettingsKeyValuePairs: appSettings$`, "the app settings object is the app's settings"},
		{"infra/app/api.bicep", `type: 'UserAssignedIdentity'`, "the deployment container read with the identity"},
		{"infra/app/api.bicep", `'azd-service-name': serviceName`, "the tag azd finds the app by"},
		{"infra/app/db.bicep", `azureADOnlyAuthentication: true`, "Microsoft Entra-only authentication"},
		{"infra/app/db.bicep", `administratorType: 'ActiveDirectory'`, "an Entra admin"},
		{"infra/app/db.bicep", `name: 'GP_S_Gen5'`, "a serverless database"},
		{"infra/app/db.bicep", `autoPauseDelay: \d+`, "auto-pause"},
		{"infra/app/db.bicep", `minimalTlsVersion: '1.2'`, "TLS 1.2"},
	}
	for _, tt := range tests {
		if !regexp.MustCompile(tt.pattern).MatchString(files[tt.file]) {
			t.Errorf("%s: no %q: %s", tt.file, tt.pattern, tt.what)
		}
	}

	// One source of app settings: nothing else sets any.
	for path, text := range files {
		if n := strings.Count(text, "appSettingsKeyValuePairs:"); n != 0 && path != AppSettingsFile {
			t.Errorf("%s sets app settings (appSettingsKeyValuePairs); only %s may", path, AppSettingsFile)
		}
		if strings.Contains(text, "Microsoft.Web/sites/config") || regexp.MustCompile(`(?m)^\s*appSettings:`).MatchString(text) {
			t.Errorf("%s sets app settings another way; only %s's appSettings object may", path, AppSettingsFile)
		}
	}

	// The SQL firewall admits Azure services (the 0.0.0.0 rule), not the
	// internet: every address in infra/ is 0.0.0.0.
	addrs := regexp.MustCompile(`(?m)^\s*(?:start|end)IpAddress: '([^']*)'`).FindAllStringSubmatch(files["infra/app/db.bicep"], -1)
	if len(addrs) != 2 {
		t.Errorf("infra/app/db.bicep: %d firewall addresses, want the one 0.0.0.0 rule", len(addrs))
	}
	for _, m := range addrs {
		if m[1] != "0.0.0.0" {
			t.Errorf("infra/app/db.bicep: firewall address %s: only the Azure services rule (0.0.0.0) belongs in infra/", m[1])
		}
	}

	// Least privilege: no broad role anywhere, and the identity's roles
	// are exactly these.
	broad := map[string]string{
		"8e3af657-a8ff-443c-a75c-2fe8c4bcb635": "Owner",
		"b24988ac-6180-42a0-ab88-20f7382dd24c": "Contributor",
		"18d7d88d-d35e-4fb5-a5c3-7773c20a72d9": "User Access Administrator",
		"17d1049b-9a84-46fb-8f53-869881c3d3ab": "Storage Account Contributor",
		"81a9662b-bebf-436f-a333-f67b29880f12": "Storage Account Key Operator",
	}
	for path, text := range files {
		for id, role := range broad {
			if strings.Contains(strings.ToLower(text), id) {
				t.Errorf("%s assigns %s", path, role)
			}
		}
	}
	roleIDs := regexp.MustCompile(`(?m)^var (\w+) = '([0-9a-f-]{36})'`).FindAllStringSubmatch(files["infra/app/rbac.bicep"], -1)
	var roles []string
	for _, m := range roleIDs {
		roles = append(roles, m[2])
	}
	slices.Sort(roles)
	want := []string{
		"0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3", // Storage Table Data Contributor (declared, off)
		"3913510d-42f4-4e42-8a64-420c390055eb", // Monitoring Metrics Publisher
		"974c5e8b-45b9-4653-ba55-5f855dd0fb88", // Storage Queue Data Contributor
		"b7e6dc6d-f1e8-4753-8033-0f276bb0955b", // Storage Blob Data Owner (the app)
		"ba92f5b4-2d11-453d-a403-e96b0029c9fe", // Storage Blob Data Contributor (the deploying user)
	}
	if !slices.Equal(roles, want) {
		t.Errorf("infra/app/rbac.bicep declares roles %v, want %v", roles, want)
	}
}

// outputs returns the names of main.bicep's outputs: what azd puts in the
// hooks' environment.
func outputs(t *testing.T) []string {
	t.Helper()
	var names []string
	for _, m := range regexp.MustCompile(`(?m)^output (\w+) `).FindAllStringSubmatch(readRepoFile(t, "infra/main.bicep"), -1) {
		names = append(names, m[1])
	}
	return names
}

// azdSets are the variables azd puts in the hooks' environment besides
// main.bicep's outputs (the README has the non-azd path export them too).
var azdSets = []string{"AZURE_SUBSCRIPTION_ID"}

// TestHooks checks the hook scripts: POSIX sh syntax (azd runs them with
// sh), executable, every variable they require is an output of main.bicep
// or set by azd, and the postdeploy hook publishes the package before it
// subscribes the function and container that function.json's Event Grid
// blob trigger names.
func TestHooks(t *testing.T) {
	root := repoRoot(t)
	outs := append(outputs(t), azdSets...)
	required := regexp.MustCompile(`\$\{(\w+):\?\}`)
	for _, hook := range []string{"infra/hooks/postprovision.sh", "infra/hooks/postdeploy.sh"} {
		p := filepath.Join(root, filepath.FromSlash(hook))
		st, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm()&0o111 == 0 {
			t.Errorf("%s is not executable", hook)
		}
		if out, err := exec.Command("sh", "-n", p).CombinedOutput(); err != nil {
			t.Errorf("sh -n %s: %v\n%s", hook, err, out)
		}
		text := readRepoFile(t, hook)
		vars := required.FindAllStringSubmatch(text, -1)
		if len(vars) == 0 {
			t.Errorf("%s requires no variables; it should check the outputs it reads", hook)
		}
		for _, m := range vars {
			if !slices.Contains(outs, m[1]) {
				t.Errorf("%s reads %s, which neither infra/main.bicep outputs nor azd sets", hook, m[1])
			}
		}
	}
	if out, err := exec.Command("bash", "-n", filepath.Join(root, "scripts", "package.sh")).CombinedOutput(); err != nil {
		t.Errorf("bash -n scripts/package.sh: %v\n%s", err, out)
	}

	fns, err := deploy.LoadFunctions(root)
	if err != nil {
		t.Fatal(err)
	}
	postdeploy := readRepoFile(t, "infra/hooks/postdeploy.sh")
	var eventGrid []string
	for _, fn := range fns {
		trigger, err := fn.Trigger()
		if err != nil || trigger.Type != "blobTrigger" || trigger.Source != "EventGrid" {
			continue
		}
		eventGrid = append(eventGrid, fn.Name)
		if !strings.Contains(postdeploy, "function_name="+fn.Name+"\n") {
			t.Errorf("postdeploy.sh does not subscribe %s (Host.Functions.%s)", fn.Name, fn.Name)
		}
		container := strings.SplitN(trigger.Path, "/", 2)[0]
		if container != config.IncomingContainer {
			t.Errorf("%s watches %s, but the hook subscribes INCOMING_CONTAINER_NAME (%s)", fn.Name, container, config.IncomingContainer)
		}
	}
	if len(eventGrid) != 1 {
		t.Errorf("Event Grid blob triggers %v: postdeploy.sh subscribes exactly one", eventGrid)
	}
	if !strings.Contains(postdeploy, "Host.Functions.$function_name") || !strings.Contains(postdeploy, "/runtime/webhooks/blobs?functionName=") {
		t.Error("postdeploy.sh does not target the blobs extension's webhook")
	}
	// Every Event Grid trigger (the deletion side) is subscribed through the
	// Event Grid extension's webhook, with that extension's key, to the
	// same container's BlobDeleted events.
	var deletions []string
	for _, fn := range fns {
		if trigger, err := fn.Trigger(); err != nil || trigger.Type != "eventGridTrigger" {
			continue
		}
		deletions = append(deletions, fn.Name)
		if !strings.Contains(postdeploy, "delete_function="+fn.Name+"\n") {
			t.Errorf("postdeploy.sh does not subscribe %s", fn.Name)
		}
	}
	if !slices.Equal(deletions, []string{app.BlobDeletedFunction}) {
		t.Errorf("Event Grid triggers %v, want [%s]", deletions, app.BlobDeletedFunction)
	}
	for _, want := range []string{
		"/runtime/webhooks/eventgrid?functionName=$delete_function&code=$key",
		"system_key eventgrid_extension",
		"--included-event-types Microsoft.Storage.BlobDeleted",
	} {
		if !strings.Contains(postdeploy, want) {
			t.Errorf("postdeploy.sh lacks %q: the deletion events would not reach %s", want, app.BlobDeletedFunction)
		}
	}
	if strings.Count(postdeploy, `--subject-begins-with "/blobServices/default/containers/$INCOMING_CONTAINER_NAME/"`) != 2 {
		t.Error("postdeploy.sh must filter both subscriptions to the incoming container")
	}
	// The blobs_extension key exists only once the published app runs.
	publish := strings.Index(postdeploy, "az functionapp deployment source config-zip")
	keys := strings.Index(postdeploy, "az functionapp keys list")
	if publish < 0 || keys < 0 || publish > keys {
		t.Error("postdeploy.sh must publish the package (az functionapp deployment source config-zip) before it reads the blobs_extension key")
	}
	if !strings.Contains(postdeploy, "zip=dist/"+deploy.ZipName+"\n") {
		t.Errorf("postdeploy.sh does not publish dist/%s, the zip scripts/package.sh writes", deploy.ZipName)
	}
}

// TestAzureYAML checks azure.yaml's lifecycle: the database grant after
// provisioning, the package built before the deploy step, and the publish
// and Event Grid subscription after it (azd runs postprovision, predeploy,
// postdeploy in this order in `azd up`), each hook a file that exists.
func TestAzureYAML(t *testing.T) {
	root := repoRoot(t)
	hooks := azureYAMLHooks(t, readRepoFile(t, "azure.yaml"))
	want := map[string]string{
		"postprovision": "./infra/hooks/postprovision.sh",
		"predeploy":     "bash scripts/package.sh",
		"postdeploy":    "./infra/hooks/postdeploy.sh",
	}
	for event, run := range want {
		if hooks[event] != run {
			t.Errorf("azure.yaml: hooks.%s.posix.run is %q, want %q", event, hooks[event], run)
		}
	}
	for event, run := range hooks {
		if _, ok := want[event]; !ok {
			t.Errorf("azure.yaml: unexpected hook %s (%s)", event, run)
		}
		file := strings.TrimPrefix(strings.TrimPrefix(run, "bash "), "./")
		if _, err := os.Stat(filepath.Join(root, filepath.FromSlash(file))); err != nil {
			t.Errorf("azure.yaml: hook %s runs %s: %v", event, run, err)
		}
	}
}

// azureYAMLHooks reads the top-level hooks of azure.yaml: event → the
// posix hook's run line. It reads the shape azure.yaml has (two-space
// indentation, one-line values), not YAML in general.
func azureYAMLHooks(t *testing.T, text string) map[string]string {
	t.Helper()
	hooks := map[string]string{}
	section, event := "", ""
	for _, line := range strings.Split(text, "\n") {
		trimmed := strings.TrimSpace(line)
		if trimmed == "" || strings.HasPrefix(trimmed, "#") {
			continue
		}
		indent := len(line) - len(strings.TrimLeft(line, " "))
		switch {
		case indent == 0:
			section, _, _ = strings.Cut(trimmed, ":")
		case section == "hooks" && indent == 2:
			event = strings.TrimSuffix(trimmed, ":")
		case section == "hooks" && indent == 6 && strings.HasPrefix(trimmed, "run: "):
			hooks[event] = strings.TrimPrefix(trimmed, "run: ")
		}
	}
	return hooks
}

// alphaOnly are azure.yaml features azd refuses unless an alpha feature
// is switched on (`azd config set alpha.<feature> on`): a newcomer's
// `azd up` would stop at its first step.
var alphaOnly = []struct {
	re  *regexp.Regexp
	why string
}{
	{regexp.MustCompile(`(?m)^\s+language:\s*["']?custom["']?\s*(#.*)?$`), "a service with language: custom (alpha.language.custom)"},
	{regexp.MustCompile(`(?m)^\s+helm:`), "a helm deployment (alpha.aks.helm)"},
	{regexp.MustCompile(`(?m)^\s+kustomize:`), "a kustomize deployment (alpha.aks.kustomize)"},
	{regexp.MustCompile(`(?m)^\s*layers:`), "provisioning layers (alpha.layers)"},
	{regexp.MustCompile(`\balpha\.[a-zA-Z]`), "an azd alpha feature (azd config set alpha.…)"},
}

// TestDeploymentNeedsNoAlphaFeature fails on anything in azure.yaml or the
// hooks that needs an azd alpha feature.
func TestDeploymentNeedsNoAlphaFeature(t *testing.T) {
	files := map[string]string{"azure.yaml": readRepoFile(t, "azure.yaml")}
	for path, text := range infraFiles(t) {
		if strings.HasPrefix(path, "infra/hooks/") {
			files[path] = text
		}
	}
	for path, text := range files {
		code := withoutComments(text)
		for _, a := range alphaOnly {
			if m := a.re.FindString(code); m != "" {
				t.Errorf("%s: %q needs %s", path, strings.TrimSpace(m), a.why)
			}
		}
	}
	// The check itself: it must catch what azure.yaml once had.
	const alpha = "services:\n  api:\n    project: .\n    language: custom\n    host: function\n"
	if !alphaOnly[0].re.MatchString(alpha) {
		t.Error("the language: custom check does not match a custom-language service")
	}
}

// withoutComments drops the comment lines of a YAML file or shell script
// (they may name what they avoid).
func withoutComments(text string) string {
	var b strings.Builder
	for _, line := range strings.Split(text, "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "#") {
			continue
		}
		b.WriteString(line)
		b.WriteString("\n")
	}
	return b.String()
}

// TestHooksUseTheSubscription: every az invocation in the hooks names the
// subscription azd deploys to, and no hook hides an az error.
func TestHooksUseTheSubscription(t *testing.T) {
	for path, text := range infraFiles(t) {
		if !strings.HasPrefix(path, "infra/hooks/") {
			continue
		}
		calls := azCalls(text)
		if len(calls) == 0 && strings.Contains(text, "az ") {
			t.Errorf("%s: found no az invocation, but the script mentions az", path)
		}
		for _, c := range calls {
			if !strings.Contains(c.text, `--subscription "$AZURE_SUBSCRIPTION_ID"`) && !strings.Contains(c.text, "--subscription $AZURE_SUBSCRIPTION_ID") {
				t.Errorf("%s:%d: az without --subscription \"$AZURE_SUBSCRIPTION_ID\": %s", path, c.line, c.text)
			}
		}
		for n, line := range strings.Split(text, "\n") {
			code := strings.TrimSpace(line)
			if strings.HasPrefix(code, "#") {
				continue
			}
			if strings.Contains(code, "|| true") || strings.Contains(code, "|| :") {
				t.Errorf("%s:%d: a failure is ignored (|| true): %s", path, n+1, code)
			}
			if strings.Contains(code, "2>/dev/null") || strings.Contains(code, "&>/dev/null") || strings.Contains(code, ">/dev/null 2>&1") {
				t.Errorf("%s:%d: an error is discarded: %s", path, n+1, code)
			}
		}
	}
}

func TestAzCalls(t *testing.T) {
	script := `#!/bin/sh
# az login is a comment
command -v az >/dev/null || echo "az is required (az)"
echo "run: az group show -n x"
cat <<EOF
  az login --tenant "$AZURE_TENANT_ID"
EOF
key=$(az functionapp keys list --subscription "$AZURE_SUBSCRIPTION_ID" \
	--name x --query "a | b" --output tsv)
az group show -n x; az account show --subscription "$AZURE_SUBSCRIPTION_ID"
trap 'az sql server firewall-rule delete --name "$rule" || exit 1' EXIT
echo "$(az group list)"
`
	want := []azCall{
		{8, `az functionapp keys list --subscription "$AZURE_SUBSCRIPTION_ID" --name x --query "a | b" --output tsv`},
		{10, "az group show -n x"},
		{10, `az account show --subscription "$AZURE_SUBSCRIPTION_ID"`},
		{11, `az sql server firewall-rule delete --name "$rule"`},
		{12, `az group list`},
	}
	if got := azCalls(script); !slices.Equal(got, want) {
		t.Errorf("azCalls:\n got %+v\nwant %+v", got, want)
	}
}

// azCall is one az invocation of a shell script: its first line and its
// text, continuation lines joined.
type azCall struct {
	line int
	text string
}

// azStart is az followed by a subcommand, after the start of the line, a
// blank, a separator, a $( or a quote; azCalls then drops those that are
// text (in a double-quoted string, in single quotes other than a trap's
// command, in a here-document).
var azStart = regexp.MustCompile(`(^|[\s;|&(\x60'"])az\s+[a-z]`)

// hereDoc is the start of a here-document and its terminator.
var hereDoc = regexp.MustCompile(`<<-?\s*['"]?(\w+)['"]?`)

// azCalls finds the az invocations of a shell script. Comment lines and
// here-documents are skipped, backslash-newline continuations joined, and
// each invocation runs to the first unquoted ; | & ) or the end of the line
// — or, if it is a trap's single-quoted command, to the closing quote. It
// knows enough shell for the hooks, not all of it.
func azCalls(script string) []azCall {
	var calls []azCall
	lines := strings.Split(script, "\n")
	for i := 0; i < len(lines); i++ {
		first := i + 1
		line := lines[i]
		for strings.HasSuffix(line, "\\") && i+1 < len(lines) {
			i++
			line = strings.TrimRight(strings.TrimSuffix(line, "\\"), " \t") + " " + strings.TrimSpace(lines[i])
		}
		if strings.HasPrefix(strings.TrimSpace(line), "#") {
			continue
		}
		for _, m := range azStart.FindAllStringSubmatchIndex(line, -1) {
			start := m[3] // after the prefix group: the "a" of az
			if cmd, ok := azCommand(line, start); ok {
				calls = append(calls, azCall{first, cmd})
			}
		}
		if m := hereDoc.FindStringSubmatch(line); m != nil {
			for i+1 < len(lines) && strings.TrimSpace(lines[i+1]) != m[1] {
				i++
			}
			i++ // the terminator
		}
	}
	return calls
}

// azCommand returns the command starting at line[start:], and false if
// that az is text rather than a command.
func azCommand(line string, start int) (string, bool) {
	inSingle, inDouble, singleAt := false, false, -1
	for i, c := range line[:start] {
		switch {
		case c == '\'' && !inDouble:
			inSingle = !inSingle
			singleAt = i
		case c == '"' && !inSingle:
			inDouble = !inDouble
		}
	}
	switch {
	case inSingle:
		if !strings.HasSuffix(strings.TrimSpace(line[:singleAt]), "trap") {
			return "", false
		}
		end := strings.IndexByte(line[start:], '\'')
		if end < 0 {
			end = len(line) - start
		}
		return strings.TrimSpace(cutAtSeparator(line[start : start+end])), true
	case inDouble && !strings.HasSuffix(line[:start], "$("):
		return "", false
	}
	return strings.TrimSpace(cutAtSeparator(line[start:])), true
}

// cutAtSeparator cuts s at the first unquoted ; | & or ).
func cutAtSeparator(s string) string {
	inSingle, inDouble := false, false
	for i, c := range s {
		switch {
		case c == '\'' && !inDouble:
			inSingle = !inSingle
		case c == '"' && !inSingle:
			inDouble = !inDouble
		case !inSingle && !inDouble && strings.ContainsRune(";|&)", c):
			return s[:i]
		}
	}
	return s
}
