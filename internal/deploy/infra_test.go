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

// TestHooks checks the hook scripts: POSIX sh syntax (azd runs them with
// sh), executable, every variable they require is an output of main.bicep,
// and the postdeploy hook subscribes the function and container that
// function.json's Event Grid blob trigger names.
func TestHooks(t *testing.T) {
	root := repoRoot(t)
	outs := outputs(t)
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
				t.Errorf("%s reads %s, which infra/main.bicep does not output (azd would not set it)", hook, m[1])
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
}

// TestAzureYAML checks azure.yaml against the package and infra/: azd
// deploys the directory scripts/package.sh stages, finds the app by the
// service name api.bicep tags it with, and runs hooks that exist.
func TestAzureYAML(t *testing.T) {
	root := repoRoot(t)
	text := readRepoFile(t, "azure.yaml")
	tests := []struct{ pattern, what string }{
		{`(?m)^services:\n  api:$`, "the service api (api.bicep's serviceName default)"},
		{`(?m)^    language: custom$`, "a custom-language service (azd deploys dist as it is)"},
		{`(?m)^    host: function$`, "a function app"},
		{`(?m)^    dist: dist/` + deploy.StageDirName + `$`, "the directory scripts/package.sh stages"},
		{`(?m)^          run: bash scripts/package.sh$`, "the package built before azd packages the service"},
	}
	for _, tt := range tests {
		if !regexp.MustCompile(tt.pattern).MatchString(text) {
			t.Errorf("azure.yaml: no %q: %s", tt.pattern, tt.what)
		}
	}
	if !regexp.MustCompile(`(?m)^param serviceName string = 'api'$`).MatchString(readRepoFile(t, "infra/app/api.bicep")) {
		t.Error("infra/app/api.bicep's serviceName is not 'api', the service name in azure.yaml")
	}
	for _, m := range regexp.MustCompile(`(?m)^\s+run: (?:bash )?\.?/?(\S+)$`).FindAllStringSubmatch(text, -1) {
		if _, err := os.Stat(filepath.Join(root, filepath.FromSlash(m[1]))); err != nil {
			t.Errorf("azure.yaml runs %s: %v", m[1], err)
		}
	}
}
