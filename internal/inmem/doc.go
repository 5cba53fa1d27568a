// Package inmem holds in-memory fakes of tinyhead's external dependencies,
// for tests of logic (ingest, training, promotion, rollback, nightly
// selection, HTTP status mapping) that should run without Azurite, a SQL
// database or ONNX Runtime:
//
//   - Store, a tinyhead.Store with sqlstore's semantics;
//   - Blobs, blob storage with the azblob client's ETag, condition, lease
//     and error-kind semantics (registry.Blobs, ingest.Opener);
//   - Embedder, a small deterministic bag-of-words embedding model;
//   - Runtime, a registry.Runtime that runs classifier heads in Go.
//
// A fake is only worth its tests if it behaves like the real component, so
// Store passes the store conformance suite (sqlstore/storetest) and Blobs
// the blob conformance suite (blobstore/blobtest), the same suites the real
// components pass. Where a fake is stricter than the real component (it
// catches a misuse the real one lets pass by luck), its doc comment says so.
//
// Store and Blobs have a Fault hook that makes chosen operations fail, for
// tests of error paths (a transient storage error, a store error after a
// blob was written).
//
// Package inmem imports registry (Blobs.AcquireLease returns a
// registry.Lease), so tests inside package registry cannot import it; use
// an external test package (registry_test).
package inmem
