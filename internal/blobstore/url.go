package blobstore

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
)

// SplitBlobURL returns the container and the (unescaped) blob name of a blob
// URL. Two URL styles are understood:
//
//   - path style, used by Azurite and other emulators, where the account is
//     the first path segment: http://127.0.0.1:10000/devstoreaccount1/incoming/a/b.txt.
//     A URL is taken to be path style when its host is an IP address,
//     "localhost", or a single-label name (such as a container called "azurite");
//   - host style, used by Azure, where the account is in the host name:
//     https://acct.blob.core.windows.net/incoming/a/b.txt.
//
// Any query (a SAS, a snapshot) is ignored and never appears in errors.
func SplitBlobURL(raw string) (container, name string, err error) {
	u, err := url.Parse(raw)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // url.Error repeats the URL, query included
		}
		return "", "", fmt.Errorf("parse blob URL: %w", err)
	}
	shown := u.Scheme + "://" + u.Host + u.EscapedPath()
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		return "", "", fmt.Errorf("blob URL %q: want an http or https URL", shown)
	}
	path := strings.TrimPrefix(u.EscapedPath(), "/")
	if pathStyle(u.Hostname()) {
		account, rest, ok := strings.Cut(path, "/")
		if !ok || account == "" {
			return "", "", fmt.Errorf("blob URL %q: no account, container and blob in the path", shown)
		}
		path = rest
	}
	c, n, ok := strings.Cut(path, "/")
	if !ok || c == "" || n == "" {
		return "", "", fmt.Errorf("blob URL %q: no container and blob in the path", shown)
	}
	if container, err = url.PathUnescape(c); err != nil {
		return "", "", fmt.Errorf("blob URL %q: container: %w", shown, err)
	}
	if name, err = url.PathUnescape(n); err != nil {
		return "", "", fmt.Errorf("blob URL %q: blob name: %w", shown, err)
	}
	return container, name, nil
}

func pathStyle(host string) bool {
	return net.ParseIP(host) != nil || strings.EqualFold(host, "localhost") || !strings.Contains(host, ".")
}
