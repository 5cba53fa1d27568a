package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"mime"
	"net"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/tinyhead/tinyhead/internal/blobstore"
	"github.com/tinyhead/tinyhead/internal/config"
	"github.com/tinyhead/tinyhead/internal/ingest"
)

// uploadOptions are the flags of handler upload.
type uploadOptions struct {
	to, settings string
}

// uploadFlags defines handler upload's flags on fs and returns the command.
func uploadFlags(fs *flag.FlagSet) func(context.Context, []string) error {
	var o uploadOptions
	fs.StringVar(&o.to, "to", "", "`folder` of the incoming container to upload into, e.g. _labels/ for labels files (default: its root)")
	fs.StringVar(&o.settings, "settings", "local.settings.json", "settings `file` whose AzureWebJobsStorage is used when the environment has none; without the file, Azurite (UseDevelopmentStorage=true)")
	return func(ctx context.Context, args []string) error {
		return uploadCommand(ctx, os.Stdout, o, args, os.Getenv)
	}
}

// upload is one local file and the blob it becomes.
type upload struct {
	file, blob string
	size       int64
}

// uploadCommand uploads files, and the files under directories, into the
// incoming container of the AzureWebJobsStorage connection: a file
// becomes <to>/<its name>, a file under a directory <to>/<its path below
// the directory>. Every path is checked before anything is uploaded.
func uploadCommand(ctx context.Context, w io.Writer, o uploadOptions, paths []string, getenv func(string) string) error {
	if len(paths) == 0 {
		return errors.New("upload: no files given (handler upload -h)")
	}
	folder, err := uploadFolder(o.to)
	if err != nil {
		return err
	}
	var todo []upload
	for _, p := range paths {
		found, err := filesOf(p, folder)
		if err != nil {
			return fmt.Errorf("upload: %w (nothing was uploaded)", err)
		}
		todo = append(todo, found...)
	}
	if len(todo) == 0 {
		return fmt.Errorf("upload: no files under %s (nothing was uploaded)", strings.Join(paths, ", "))
	}
	conn, err := storageSettings(o.settings, getenv)
	if err != nil {
		return err
	}
	blobs, err := blobstore.NewFromEnv(config.StorageConnection, conn)
	if err != nil {
		return fmt.Errorf("upload: %w", err)
	}
	if err := reachable(ctx, blobs); err != nil {
		return err
	}
	if err := blobs.EnsureContainer(ctx, config.IncomingContainer); err != nil {
		return fmt.Errorf("upload: %w", err)
	}
	fmt.Fprintf(w, "uploading %d files to %s (%s)\n", len(todo), blobs.URL(config.IncomingContainer, folder), blobs.Auth())
	var total int64
	start := time.Now()
	for i, u := range todo {
		etag, err := uploadFile(ctx, blobs, u)
		if err != nil {
			return fmt.Errorf("upload: %s: %w (%d of %d files were uploaded)", u.file, err, i, len(todo))
		}
		total += u.size
		fmt.Fprintf(w, "  %s -> %s (%s, etag %s)\n", u.file, ingest.Source(config.IncomingContainer, u.blob), byteSize(u.size), etag)
	}
	fmt.Fprintf(w, "uploaded %d files, %s, in %s\n", len(todo), byteSize(total), time.Since(start).Round(time.Millisecond))
	fmt.Fprintf(w, "with handler local running they are ingested within seconds; watch them with\n")
	query := ""
	if len(todo) == 1 {
		query = "?source=" + url.QueryEscape(ingest.Source(config.IncomingContainer, todo[0].blob))
	}
	fmt.Fprintf(w, "  curl 'http://127.0.0.1:7071/api/ingests%s'\n", query)
	return nil
}

// uploadFolder checks --to and returns it as a blob name prefix ("" or
// "a/b/"); "incoming/" in front is allowed.
func uploadFolder(to string) (string, error) {
	to = strings.Trim(strings.TrimPrefix(strings.TrimPrefix(to, "/"), config.IncomingContainer+"/"), "/")
	if to == "" {
		return "", nil
	}
	for seg := range strings.SplitSeq(to, "/") {
		if seg == "" || seg == "." || seg == ".." {
			return "", fmt.Errorf("upload: --to %q: not a folder path (empty, . or .. segment)", to)
		}
	}
	return to + "/", nil
}

// filesOf lists the files to upload for a path: the file itself, named by
// its base name, or the regular files under a directory (hidden ones, such
// as .DS_Store, left out), in lexical order, named by their path from the
// directory's parent, as cp -r copies them: the directory's name is kept,
// so a folder of path labels (spam/ham/1.eml) arrives as it is.
func filesOf(p, folder string) ([]upload, error) {
	st, err := os.Stat(p)
	if err != nil {
		return nil, err
	}
	abs, err := filepath.Abs(p)
	if err != nil {
		return nil, err
	}
	if !st.IsDir() {
		if !st.Mode().IsRegular() {
			return nil, fmt.Errorf("%s is not a regular file", p)
		}
		return checked([]upload{{file: p, blob: folder + filepath.Base(abs), size: st.Size()}})
	}
	folder += filepath.Base(abs) + "/"
	var out []upload
	err = filepath.WalkDir(p, func(file string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if file != p && strings.HasPrefix(d.Name(), ".") {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if d.IsDir() {
			return nil
		}
		info, err := os.Stat(file) // follows a link to a file
		if err != nil {
			return err
		}
		if !info.Mode().IsRegular() {
			return nil
		}
		rel, err := filepath.Rel(p, file)
		if err != nil {
			return err
		}
		out = append(out, upload{file: file, blob: folder + filepath.ToSlash(rel), size: info.Size()})
		return nil
	})
	if err != nil {
		return nil, err
	}
	return checked(out)
}

// checked refuses blob names that storage would refuse.
func checked(ups []upload) ([]upload, error) {
	for _, u := range ups {
		if n := utf8.RuneCountInString(u.blob); n > ingest.MaxBlobName {
			return nil, fmt.Errorf("%s: the blob name would have %d characters; at most %d are allowed", u.file, n, ingest.MaxBlobName)
		}
		if !utf8.ValidString(u.blob) {
			return nil, fmt.Errorf("%s: the file name is not valid UTF-8", u.file)
		}
	}
	return ups, nil
}

// storageSettings reads the storage connection as handler local does: the
// environment first, then the settings file's Values; without either,
// Azurite.
func storageSettings(settings string, getenv func(string) string) (func(string) string, error) {
	file := func(string) string { return "" }
	if _, err := os.Stat(settings); err == nil {
		f, err := config.LocalSettings(settings)
		if err != nil {
			return nil, err
		}
		file = f
	}
	return func(name string) string {
		if v := getenv(name); v != "" {
			return v
		}
		if v := file(name); v != "" {
			return v
		}
		if name == config.StorageConnection {
			return "UseDevelopmentStorage=true"
		}
		return ""
	}, nil
}

// reachable says plainly when Azurite is not running, instead of the
// client's retries ending in "connection refused".
func reachable(ctx context.Context, blobs *blobstore.Client) error {
	u, err := url.Parse(blobs.ServiceURL())
	if err != nil || (u.Hostname() != "127.0.0.1" && u.Hostname() != "localhost") {
		return nil // a remote account: its own errors say enough
	}
	d := net.Dialer{Timeout: 2 * time.Second}
	conn, err := d.DialContext(ctx, "tcp", u.Host)
	if err != nil {
		return fmt.Errorf("upload: no blob service answers at %s: start it first (handler local starts Azurite): %w", u.Host, err)
	}
	return conn.Close()
}

func uploadFile(ctx context.Context, blobs *blobstore.Client, u upload) (string, error) {
	f, err := os.Open(u.file)
	if err != nil {
		return "", err
	}
	defer f.Close()
	return blobs.Upload(ctx, config.IncomingContainer, u.blob, f, contentType(u.blob))
}

// contentType guesses a blob's content type from its extension; tinyhead
// itself goes by the extension alone.
func contentType(name string) string {
	switch strings.ToLower(path.Ext(name)) {
	case ".jsonl", ".ndjson":
		return "application/x-ndjson"
	case ".csv":
		return "text/csv"
	case ".tsv":
		return "text/tab-separated-values"
	case ".eml":
		return "message/rfc822"
	}
	return mime.TypeByExtension(path.Ext(name))
}

func byteSize(n int64) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}
