package feedback

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"os"
	"runtime/debug"
	"strings"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
)

// corruptHint is how every "database corrupt" error ends: what to run.
const corruptHint = "run `chatloop feedback check` to see what is damaged, and `chatloop feedback salvage %s OUT` to copy every readable answer, vote and choice into a new file"

// corrupt wraps cause in ErrCorrupt with the file's name and the hint,
// once.
func corrupt(path string, cause any) error {
	if err, ok := cause.(error); ok && errors.Is(err, ErrCorrupt) && strings.Contains(err.Error(), "chatloop feedback salvage") {
		return err
	}
	return fmt.Errorf("%w: %s: %v; "+corruptHint, ErrCorrupt, path, cause, path)
}

// guardedDB is the bbolt handle with every transaction guarded: a bbolt
// assertion panic or a fault reading a damaged file becomes an error
// wrapping ErrCorrupt that names the file and the commands that help,
// instead of a crash with a stack trace.
type guardedDB struct {
	*bolt.DB
	path string
}

func (g guardedDB) View(fn func(*bolt.Tx) error) error {
	return g.guard(func() error { return g.DB.View(fn) })
}

func (g guardedDB) Update(fn func(*bolt.Tx) error) error {
	return g.guard(func() error { return g.DB.Update(fn) })
}

// Batch runs fn in bbolt's batch, which turns a panic of fn into an error
// of its own; that one is reported as corruption too.
func (g guardedDB) Batch(fn func(*bolt.Tx) error) error {
	return g.guard(func() error {
		err := g.DB.Batch(fn)
		if err != nil && strings.HasPrefix(err.Error(), "panic: ") {
			return corrupt(g.path, err)
		}
		return err
	})
}

func (g guardedDB) guard(run func() error) (err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if p := recover(); p != nil {
			err = corrupt(g.path, p)
		}
	}()
	err = run()
	if errors.Is(err, ErrCorrupt) {
		err = corrupt(g.path, err)
	}
	return err
}

// openGuarded opens the bbolt file after checking that it is as long as
// its own header says (a truncated file would fault when mapped), with
// bbolt's panics and faults during the open turned into ErrCorrupt.
func openGuarded(path string, bopts *bolt.Options) (db *bolt.DB, err error) {
	if err := checkLength(path); err != nil {
		return nil, err
	}
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if p := recover(); p != nil {
			db, err = nil, corrupt(path, p)
		}
	}()
	db, err = bolt.Open(path, 0o600, bopts)
	if errors.Is(err, bolterrors.ErrInvalid) || errors.Is(err, bolterrors.ErrChecksum) || errors.Is(err, bolterrors.ErrVersionMismatch) {
		return nil, corrupt(path, err)
	}
	return db, err
}

// bbolt's file header: two meta pages at the start, each a 16-byte page
// header then magic, version, page size, flags, root bucket (root page and
// sequence), freelist page, high-water page id, txid and an FNV-64a
// checksum of the fields before it.
const (
	boltMagic      = 0xED0CDAED
	boltPageHeader = 16
	boltMetaLen    = 64
)

// checkLength refuses a file shorter than the page count its newest valid
// meta page records. A missing or empty file is left to bbolt (it creates
// one).
func checkLength(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return nil // bbolt reports it, or creates the file
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil || fi.Size() == 0 {
		return nil
	}
	head := make([]byte, 64<<10)
	n, _ := io.ReadFull(f, head)
	head = head[:n]
	var best struct {
		ok         bool
		txid, need uint64
	}
	for _, off := range []int{0, 4096, 8192, 16384, 32768} {
		m, ok := readMeta(head, off)
		if !ok {
			continue
		}
		if !best.ok || m.txid > best.txid {
			best.ok, best.txid, best.need = true, m.txid, m.pgid*uint64(m.pageSize)
		}
	}
	if !best.ok {
		return corrupt(path, "no valid bbolt header")
	}
	if uint64(fi.Size()) < best.need {
		return corrupt(path, fmt.Sprintf("the file is %d bytes but its header says %d: it was truncated", fi.Size(), best.need))
	}
	return nil
}

type boltMeta struct {
	pageSize   uint32
	pgid, txid uint64
	freelist   uint64
}

// readMeta reads the meta page at off, if it is one with a good checksum.
func readMeta(b []byte, off int) (boltMeta, bool) {
	if off+boltPageHeader+boltMetaLen > len(b) {
		return boltMeta{}, false
	}
	m := b[off+boltPageHeader : off+boltPageHeader+boltMetaLen]
	le := binary.LittleEndian
	if le.Uint32(m[0:]) != boltMagic {
		return boltMeta{}, false
	}
	h := fnv.New64a()
	h.Write(m[:56])
	if h.Sum64() != le.Uint64(m[56:]) {
		return boltMeta{}, false
	}
	meta := boltMeta{pageSize: le.Uint32(m[8:]), freelist: le.Uint64(m[32:]), pgid: le.Uint64(m[40:]), txid: le.Uint64(m[48:])}
	if meta.pageSize < 512 || meta.pageSize > 1<<20 || off != 0 && off != int(meta.pageSize) {
		return boltMeta{}, false
	}
	return meta, true
}
