package feedback

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"slices"
)

// A page-by-page scan of a bbolt file, for Salvage when the tree is
// damaged: a file cut short has lost its root (bbolt writes new pages at
// the end), and a zeroed branch page hides every leaf below it, yet the
// leaves themselves are still in the file. The scan reads each page,
// recognises bbolt leaf pages by their header (the page's own id, the leaf
// flag, a count of elements whose keys and values lie within the page and
// come in ascending order), and decodes their elements, also those of
// small buckets stored inline in a value. It never follows a pointer out
// of a page, so no damage can lead it astray.
//
// bbolt writes every change to new pages (copy on write) and puts the
// pages it replaced on its free list, without clearing them: a file holds
// old versions of records, also of deleted ones. The scan skips every
// page on the free list of the newest valid header. When that list itself
// is lost the old pages cannot be told apart; the scan then keeps, for
// each key, the newest version by the record's own time (a vote's or
// choice's time; for an answer the most complete record: finished, sent,
// with the most message ids, the latest finish time), then by the highest
// page id, and the report says that records deleted before the damage may
// be back.
//
// The layout read here is bbolt's (go.etcd.io/bbolt internal/common):
// a page header of id (8 bytes), flags (2), count (2) and overflow (4),
// then count leaf elements of flags, pos, key size and value size (4
// bytes each), pos counting from the element itself; all little-endian
// (every platform chatloop builds for).

const (
	boltLeafFlag     = 0x02
	boltFreelistFlag = 0x10
	boltBucketFlag   = 0x01
	boltLeafElemSize = 16
	boltBucketHeader = 16 // root page id, sequence
	// maxScanPageRun bounds the bytes read for one page and its
	// overflow: one stored value (an answer with a huge prompt) fits.
	maxScanPageRun = 256 << 20
)

// scannedKV is one leaf element found by the scan.
type scannedKV struct {
	k, v []byte
	page uint64 // the page it was found on (for an inline bucket, the page holding the bucket)
	// node numbers the leaf (page or inline bucket) it was found in,
	// across the whole scan.
	node int
	// inMeta is true when the element's page also holds the schema
	// version key: it is the meta bucket's.
	inMeta bool
}

// pageScan is what a scan of a file found.
type pageScan struct {
	pageSize int
	// Pages is the number of pages the newest valid header says the file
	// has (0 when no header is valid); InFile is how many it holds.
	pages, inFile uint64
	leaves        int // leaf pages decoded
	free          int // pages skipped because the free list holds them
	freelistLost  bool
	kvs           []scannedKV
}

// scanFile scans the bbolt file at path page by page.
func scanFile(path string) (pageScan, error) {
	f, err := os.Open(path)
	if err != nil {
		return pageScan{}, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return pageScan{}, err
	}
	return scanPages(f, fi.Size()), nil
}

// scanPages scans size bytes of r as a bbolt file.
func scanPages(r io.ReaderAt, size int64) pageScan {
	var sc pageScan
	head := make([]byte, min(size, 64<<10))
	n, _ := r.ReadAt(head, 0)
	head = head[:n]
	var best struct {
		ok bool
		m  boltMeta
	}
	for _, off := range []int{0, 4096, 8192, 16384, 32768} {
		m, ok := readMeta(head, off)
		if ok && (!best.ok || m.txid > best.m.txid) {
			best.ok, best.m = true, m
		}
	}
	sc.pageSize = 4096
	if best.ok {
		sc.pageSize = int(best.m.pageSize)
		sc.pages = best.m.pgid
	} else if p := os.Getpagesize(); p >= 512 && p <= 1<<16 {
		sc.pageSize = p
	}
	ps := int64(sc.pageSize)
	sc.inFile = uint64(size / ps)

	free := map[uint64]bool{}
	sc.freelistLost = true
	if best.ok && best.m.freelist < sc.inFile && best.m.freelist >= 2 {
		if ids, ok := readFreelist(r, size, best.m.freelist, sc.pageSize, best.m.pgid); ok {
			sc.freelistLost = false
			for _, id := range ids {
				free[id] = true
			}
		}
	}

	buf := make([]byte, sc.pageSize)
	nodes := 0
	for id := uint64(2); id < sc.inFile; id++ {
		if _, err := r.ReadAt(buf, int64(id)*ps); err != nil {
			break
		}
		if binary.LittleEndian.Uint64(buf) != id || binary.LittleEndian.Uint16(buf[8:]) != boltLeafFlag {
			continue
		}
		if free[id] {
			sc.free++
			continue
		}
		run := int64(binary.LittleEndian.Uint32(buf[12:])+1) * ps
		if run > maxScanPageRun || int64(id)*ps+run > size {
			continue // its overflow is cut off or absurd
		}
		page := buf
		if run > ps {
			page = make([]byte, run)
			if _, err := r.ReadAt(page, int64(id)*ps); err != nil {
				continue
			}
		}
		kvs, ok := parseLeafPage(page, id)
		if !ok {
			continue
		}
		sc.leaves++
		last := 0
		for i := range kvs {
			last = max(last, kvs[i].node)
			kvs[i].node += nodes
		}
		nodes += last + 1
		sc.kvs = append(sc.kvs, kvs...)
	}
	return sc
}

// readFreelist reads the free list page at id: the ids of the pages bbolt
// had freed. ok is false when the page is not a valid free list.
func readFreelist(r io.ReaderAt, size int64, id uint64, pageSize int, highWater uint64) ([]uint64, bool) {
	ps := int64(pageSize)
	hdr := make([]byte, 16)
	if _, err := r.ReadAt(hdr, int64(id)*ps); err != nil {
		return nil, false
	}
	le := binary.LittleEndian
	if le.Uint64(hdr) != id || le.Uint16(hdr[8:]) != boltFreelistFlag {
		return nil, false
	}
	run := int64(le.Uint32(hdr[12:])+1) * ps
	if run > maxScanPageRun || int64(id)*ps+run > size {
		return nil, false
	}
	page := make([]byte, run)
	if _, err := r.ReadAt(page, int64(id)*ps); err != nil {
		return nil, false
	}
	count, start := uint64(le.Uint16(page[10:])), 16
	if count == 0xFFFF {
		if len(page) < 24 {
			return nil, false
		}
		count, start = le.Uint64(page[16:]), 24
	}
	if count > uint64(len(page)-start)/8 {
		return nil, false
	}
	ids := make([]uint64, count)
	for i := range ids {
		ids[i] = le.Uint64(page[start+8*i:])
		if ids[i] < 2 || highWater > 0 && ids[i] >= highWater {
			return nil, false
		}
	}
	return ids, true
}

// parseLeafPage decodes a bbolt leaf page (with its overflow) whose id
// should be id (0 for a bucket stored inline in a value). ok is false
// unless the header and every element are consistent; then nothing is
// returned.
func parseLeafPage(page []byte, id uint64) (kvs []scannedKV, ok bool) {
	n := 0
	return parseLeaf(page, id, id, 0, &n)
}

// parseLeaf decodes one leaf, numbering it *node and each inline bucket
// in it the next numbers.
func parseLeaf(page []byte, id, at uint64, depth int, node *int) ([]scannedKV, bool) {
	le := binary.LittleEndian
	if len(page) < 16 || le.Uint64(page) != id || le.Uint16(page[8:]) != boltLeafFlag {
		return nil, false
	}
	count := int(le.Uint16(page[10:]))
	if count == 0 || 16+count*boltLeafElemSize > len(page) {
		return nil, false
	}
	var kvs []scannedKV
	var inline [][]byte
	meta := false
	var prev []byte
	for i := range count {
		e := 16 + i*boltLeafElemSize
		flags := le.Uint32(page[e:])
		pos, ks, vs := uint64(le.Uint32(page[e+4:])), uint64(le.Uint32(page[e+8:])), uint64(le.Uint32(page[e+12:]))
		start := uint64(e) + pos
		if flags&^boltBucketFlag != 0 || ks == 0 || start+ks+vs > uint64(len(page)) {
			return nil, false
		}
		k := page[start : start+ks]
		v := page[start+ks : start+ks+vs]
		if prev != nil && bytes.Compare(prev, k) >= 0 {
			return nil, false // bbolt keeps a page's keys in order
		}
		prev = k
		if flags&boltBucketFlag != 0 {
			// A nested bucket: its header, then its page when it is
			// stored inline (root 0).
			if len(v) < boltBucketHeader {
				return nil, false
			}
			if le.Uint64(v) == 0 && len(v) > boltBucketHeader {
				inline = append(inline, v[boltBucketHeader:])
			}
			continue
		}
		if bytes.Equal(k, keySchemaVersion) && len(v) == 8 {
			meta = true
		}
		kvs = append(kvs, scannedKV{k: bytes.Clone(k), v: bytes.Clone(v), page: at})
	}
	for i := range kvs {
		kvs[i].inMeta = meta
		kvs[i].node = *node
	}
	if depth < 2 {
		for _, p := range inline {
			*node++
			if sub, ok := parseLeaf(p, 0, at, depth+1, node); ok {
				kvs = append(kvs, sub...)
			}
		}
	}
	return kvs, true
}

// scanFound is what the scan recognised as chatloop's records, the newest
// version of each key.
type scanFound struct {
	secret, created         []byte
	answers, votes, choices map[string]scannedKV
	// disputed counts keys left out because one version of their leaf
	// held them and another, covering the same keys, did not.
	disputed int
}

// recognise sorts the scanned elements into chatloop's buckets by their
// keys and values (see schema.go): an answer is JSON whose id is its key;
// a vote is part(answer id) + a 64-hex voter hash -> 9 bytes of ±1 and a
// time; a choice is part(a) part(b) + a voter hash, a < b -> a time and a
// winner that is a or b. Anything else (indexes, the vote log, consent
// records) is rebuilt or left out.
//
// A key is left out when it is disputed: some leaf of the same kind whose
// keys span it lacks it, so it was added or deleted between the two
// versions, and which came last cannot be known (a deleted vote must not
// come back). Among the versions of a key that survive, the newest wins
// (newerTimed, newerAnswer).
func recognise(kvs []scannedKV) scanFound {
	f := scanFound{}
	var kinds [3][]scannedKV // answers, votes, choices
	for _, x := range kvs {
		if x.inMeta {
			switch {
			case bytes.Equal(x.k, keySecret) && len(x.v) >= 16 && f.secret == nil:
				f.secret = x.v
			case bytes.Equal(x.k, keyCreated) && len(x.v) == 8 && f.created == nil:
				f.created = x.v
			}
			continue
		}
		switch {
		case len(x.v) > 0 && x.v[0] == '{':
			if r, err := decodeAnswer(x.v); err == nil && r.ID == string(x.k) && r.ID != "" {
				kinds[0] = append(kinds[0], x)
			}
		case isVote(x.k, x.v):
			kinds[1] = append(kinds[1], x)
		case isChoice(x.k, x.v):
			kinds[2] = append(kinds[2], x)
		}
	}
	newer := [3]func(x, old scannedKV) bool{
		newerAnswer,
		func(x, old scannedKV) bool { return newerTimed(x, x.v[1:9], old, old.v[1:9]) },
		func(x, old scannedKV) bool { return newerTimed(x, x.v[:8], old, old.v[:8]) },
	}
	var out [3]map[string]scannedKV
	for i, xs := range kinds {
		disputed := disputedKeys(xs)
		f.disputed += len(disputed)
		out[i] = map[string]scannedKV{}
		for _, x := range xs {
			k := string(x.k)
			if disputed[k] {
				continue
			}
			if old, ok := out[i][k]; !ok || newer[i](x, old) {
				out[i][k] = x
			}
		}
	}
	f.answers, f.votes, f.choices = out[0], out[1], out[2]
	return f
}

// disputedKeys finds the keys of xs (records of one kind) that some leaf
// lacks although its smallest and largest keys span them.
func disputedKeys(xs []scannedKV) map[string]bool {
	type leaf struct {
		lo, hi string
		keys   map[string]bool
	}
	leaves := map[int]*leaf{}
	var all []string
	seen := map[string]bool{}
	for _, x := range xs {
		k := string(x.k)
		l := leaves[x.node]
		if l == nil {
			l = &leaf{lo: k, hi: k, keys: map[string]bool{}}
			leaves[x.node] = l
		}
		l.lo, l.hi = min(l.lo, k), max(l.hi, k)
		l.keys[k] = true
		if !seen[k] {
			seen[k] = true
			all = append(all, k)
		}
	}
	slices.Sort(all)
	disputed := map[string]bool{}
	for _, l := range leaves {
		i, _ := slices.BinarySearch(all, l.lo)
		for ; i < len(all) && all[i] <= l.hi; i++ {
			if !l.keys[all[i]] {
				disputed[all[i]] = true
			}
		}
	}
	return disputed
}

func isVoterHash(b []byte) bool {
	if len(b) != 64 {
		return false
	}
	var dst [32]byte
	_, err := hex.Decode(dst[:], b)
	return err == nil && bytes.Equal(b, bytes.ToLower(b))
}

func isVote(k, v []byte) bool {
	if len(v) != 9 || v[0] != 1 && v[0] != 0xff {
		return false
	}
	id, rest, err := readPart(k)
	return err == nil && id != "" && isVoterHash(rest)
}

func isChoice(k, v []byte) bool {
	a, rest, err := readPart(k)
	if err != nil || a == "" {
		return false
	}
	b, rest, err := readPart(rest)
	if err != nil || b <= a || !isVoterHash(rest) || len(v) < 8 {
		return false
	}
	w := string(v[8:])
	return w == a || w == b
}

// newerTimed: the later time wins, then the higher page.
func newerTimed(x scannedKV, xt []byte, old scannedKV, ot []byte) bool {
	if c := bytes.Compare(xt, ot); c != 0 {
		return c > 0
	}
	return x.page > old.page
}

// newerAnswer: an answer only moves forwards (finished, sent, its message
// ids added, its finish time set), so the most complete version wins,
// then the higher page.
func newerAnswer(x, old scannedKV) bool {
	a, errA := decodeAnswer(x.v)
	b, errB := decodeAnswer(old.v)
	if errA != nil || errB != nil {
		return errB != nil
	}
	rank := func(r *answerRecord) [4]int64 {
		var fin int64
		if r.FinishedAt != nil {
			fin = r.FinishedAt.UnixNano()
		}
		return [4]int64{b2i(r.Finished), b2i(r.Sent), int64(len(r.MessageIDs)), fin}
	}
	ra, rb := rank(a), rank(b)
	for i := range ra {
		if ra[i] != rb[i] {
			return ra[i] > rb[i]
		}
	}
	return x.page > old.page
}

func b2i(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

// describe says what the scan saw, for the salvage report.
func (sc pageScan) describe() string {
	s := fmt.Sprintf("page scan (%d-byte pages): %d pages in the file", sc.pageSize, sc.inFile)
	if sc.pages > sc.inFile {
		s += fmt.Sprintf(", its header says %d (%d cut off)", sc.pages, sc.pages-sc.inFile)
	}
	s += fmt.Sprintf(", %d leaf pages read", sc.leaves)
	if sc.freelistLost {
		s += "; the free-page list is lost, so records deleted or changed before the damage (unvote, feedback forget) may be back: run forget again"
	} else {
		s += fmt.Sprintf(", %d old pages on the free list skipped", sc.free)
	}
	return s
}
