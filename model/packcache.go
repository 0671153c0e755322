package model

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"golang.org/x/sys/cpu"

	"github.com/chatloop/chatloop/model/ggml"
)

// The pack cache keeps the repacked weights of a model in a file, so that
// later loads map them instead of repacking (about a second per 0.5B
// model). The file lies beside the model ("<model>.chatloop-packed"), or
// in the fallback folder when the model's folder is not writable. It is
// keyed by the layout version (ggml.PackLayoutVersion), this CPU's
// features, and the model file's size, modification time and SHA-256;
// a cache whose key differs from the model's is refused and rewritten.
// Size and time are checked at load; the SHA-256, which takes a read of
// the whole model, is checked by the background hash the engine computes
// anyway: a cache that fails it is removed (the model loaded that once
// with it), and the next load repacks.

// packCacheMagic opens every pack cache file.
const packCacheMagic = "CHATLOOP-PACKED\n"

// packCacheFormat is the version of the file's own framing.
const packCacheFormat = 1

// packCacheAlign aligns the packed data in the file (a page), so that it
// can be mapped.
const packCacheAlign = 1 << 16

// packCacheHeader is the JSON header of a pack cache file.
type packCacheHeader struct {
	Format      int         `json:"format"`
	Layout      int         `json:"layout"`
	CPU         string      `json:"cpu"`
	ModelSize   int64       `json:"model_size"`
	ModelMTime  int64       `json:"model_mtime_ns"`
	ModelSHA256 string      `json:"model_sha256"`
	DataOffset  int64       `json:"data_offset"`
	DataSize    int64       `json:"data_size"`
	Tensors     []packEntry `json:"tensors"`
}

// packEntry is one packed matrix in the cache's data.
type packEntry struct {
	Name   string `json:"name"`
	Type   uint32 `json:"type"`
	Rows   int    `json:"rows"`
	Cols   int    `json:"cols"`
	Offset int64  `json:"offset"`
	Size   int64  `json:"size"`
}

// packCache is where a model's pack cache is read and written.
type packCache struct {
	model    string   // the model file
	paths    []string // where the cache may be, in order of preference
	size     int64    // the model's size and modification time at load
	mtime    int64
	hit      string // the file used at load, if any
	hitSHA   string // its model_sha256
	disabled bool   // no cache (the model could not be stat'ed)
}

// newPackCache returns the cache for the model at path; fallbackDir is
// used when the model's folder is not writable ("" means the user's cache
// folder).
func newPackCache(path, fallbackDir string) *packCache {
	c := &packCache{model: path}
	st, err := os.Stat(path)
	if err != nil || !st.Mode().IsRegular() {
		c.disabled = true
		return c
	}
	c.size, c.mtime = st.Size(), st.ModTime().UnixNano()
	abs, err := filepath.Abs(path)
	if err != nil {
		abs = path
	}
	name := filepath.Base(abs) + ".chatloop-packed"
	c.paths = append(c.paths, filepath.Join(filepath.Dir(abs), name))
	if fallbackDir == "" {
		if d, err := os.UserCacheDir(); err == nil {
			fallbackDir = filepath.Join(d, "chatloop", "packed")
		}
	}
	if fallbackDir != "" {
		// The folder's path is part of the name: two models of the same
		// name in different folders get different caches.
		key := fmt.Sprintf("%016x", fnv64(filepath.Dir(abs)))
		c.paths = append(c.paths, filepath.Join(fallbackDir, key+"-"+name))
	}
	return c
}

func fnv64(s string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= 1099511628211
	}
	return h
}

// cpuKey names what chooses the packed layouts on this machine.
func cpuKey() string {
	var feats []string
	add := func(name string, has bool) {
		if has {
			feats = append(feats, name)
		}
	}
	switch runtime.GOARCH {
	case "amd64", "386":
		add("avx2", cpu.X86.HasAVX2)
		add("fma", cpu.X86.HasFMA)
		add("avx512f", cpu.X86.HasAVX512F)
		add("avx512bw", cpu.X86.HasAVX512BW)
		add("avx512vl", cpu.X86.HasAVX512VL)
		add("avx512vnni", cpu.X86.HasAVX512VNNI)
		add("avx512vbmi", cpu.X86.HasAVX512VBMI)
		add("avxvnni", cpu.X86.HasAVXVNNI)
	case "arm64":
		add("asimd", cpu.ARM64.HasASIMD)
		add("asimddp", cpu.ARM64.HasASIMDDP)
		add("i8mm", cpu.ARM64.HasI8MM)
	}
	return runtime.GOARCH + " " + strings.Join(feats, ",")
}

// entries lays the packable jobs out as the cache (and the packed memory)
// holds them.
func packEntries(jobs []namedMatrix) ([]packEntry, int64) {
	es := make([]packEntry, len(jobs))
	var off int64
	for i, j := range jobs {
		size := int64(len(j.m.Data))
		es[i] = packEntry{Name: j.name, Type: uint32(j.m.Type), Rows: j.m.Rows, Cols: j.m.Cols, Offset: off, Size: size}
		off += (size + packAlign - 1) &^ (packAlign - 1)
	}
	return es, off
}

// errStalePack explains why a cache file was not used.
var errStalePack = errors.New("stale pack cache")

// readHeader reads and checks the header of the cache file at path
// against the model and the jobs it must hold.
func (c *packCache) readHeader(f *os.File, jobs []namedMatrix) (*packCacheHeader, error) {
	var pre [len(packCacheMagic) + 8]byte
	if _, err := io.ReadFull(f, pre[:]); err != nil {
		return nil, fmt.Errorf("%w: reading its header: %v", errStalePack, err)
	}
	if string(pre[:len(packCacheMagic)]) != packCacheMagic {
		return nil, fmt.Errorf("%w: not a pack cache file", errStalePack)
	}
	n := binary.LittleEndian.Uint64(pre[len(packCacheMagic):])
	if n > 16<<20 {
		return nil, fmt.Errorf("%w: header of %d bytes", errStalePack, n)
	}
	buf := make([]byte, n)
	if _, err := io.ReadFull(f, buf); err != nil {
		return nil, fmt.Errorf("%w: reading its header: %v", errStalePack, err)
	}
	var h packCacheHeader
	if err := json.Unmarshal(buf, &h); err != nil {
		return nil, fmt.Errorf("%w: header: %v", errStalePack, err)
	}
	switch {
	case h.Format != packCacheFormat:
		return nil, fmt.Errorf("%w: file format %d, want %d", errStalePack, h.Format, packCacheFormat)
	case h.Layout != ggml.PackLayoutVersion:
		return nil, fmt.Errorf("%w: packed layout version %d, this build packs version %d", errStalePack, h.Layout, ggml.PackLayoutVersion)
	case h.CPU != cpuKey():
		return nil, fmt.Errorf("%w: packed for CPU features %q, this CPU has %q", errStalePack, h.CPU, cpuKey())
	case h.ModelSize != c.size || h.ModelMTime != c.mtime:
		return nil, fmt.Errorf("%w: the model file changed since it was packed", errStalePack)
	case h.DataOffset%packCacheAlign != 0 || h.DataOffset <= 0:
		return nil, fmt.Errorf("%w: data offset %d", errStalePack, h.DataOffset)
	}
	want, total := packEntries(jobs)
	if h.DataSize != total || len(h.Tensors) != len(want) {
		return nil, fmt.Errorf("%w: it holds %d matrices in %d bytes, the model packs %d in %d", errStalePack, len(h.Tensors), h.DataSize, len(want), total)
	}
	for i := range want {
		if h.Tensors[i] != want[i] {
			return nil, fmt.Errorf("%w: matrix %d is %+v, want %+v", errStalePack, i, h.Tensors[i], want[i])
		}
	}
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errStalePack, err)
	}
	if st.Size() < h.DataOffset+h.DataSize {
		return nil, fmt.Errorf("%w: the file is truncated (%d bytes, want %d)", errStalePack, st.Size(), h.DataOffset+h.DataSize)
	}
	return &h, nil
}

// load maps the packed matrices from the first usable cache file, or
// returns nil. A stale file is logged and left for save to replace.
func (c *packCache) load(jobs []namedMatrix, log *slog.Logger) *packedWeights {
	if c == nil || c.disabled {
		return nil
	}
	for _, path := range c.paths {
		f, err := os.Open(path)
		if err != nil {
			if !errors.Is(err, os.ErrNotExist) {
				log.Warn("pack cache unreadable; repacking", "file", path, "err", err)
			}
			continue
		}
		p, h, err := c.mapFile(f, jobs)
		f.Close()
		if err != nil {
			log.Info("pack cache not used; repacking", "file", path, "why", err)
			continue
		}
		c.hit, c.hitSHA = path, h.ModelSHA256
		return p
	}
	return nil
}

func (c *packCache) mapFile(f *os.File, jobs []namedMatrix) (*packedWeights, *packCacheHeader, error) {
	h, err := c.readHeader(f, jobs)
	if err != nil {
		return nil, nil, err
	}
	mem, free, err := mapPacked(f, h.DataOffset, int(h.DataSize))
	if err != nil {
		return nil, nil, fmt.Errorf("mapping: %w", err)
	}
	return &packedWeights{mem: mem, free: free, matrices: len(jobs), fromCache: true}, h, nil
}

// save writes mem (laid out as packEntries(jobs)) as the cache, keyed by
// the model's SHA-256, to the first folder that takes it. It stops early
// when ctx is cancelled, leaving nothing behind.
func (c *packCache) save(ctx context.Context, jobs []namedMatrix, mem []byte, sha string) (string, error) {
	if c.disabled || len(c.paths) == 0 {
		return "", errors.New("no place for a pack cache")
	}
	entries, total := packEntries(jobs)
	h := packCacheHeader{
		Format: packCacheFormat, Layout: ggml.PackLayoutVersion, CPU: cpuKey(),
		ModelSize: c.size, ModelMTime: c.mtime, ModelSHA256: sha,
		DataSize: total, Tensors: entries,
	}
	js, err := json.Marshal(h)
	if err != nil {
		return "", err
	}
	// The header's own length decides the data offset, which is in it:
	// settle it with the longest offset the header could need.
	h.DataOffset = int64(len(packCacheMagic)+8+len(js)+32+packCacheAlign-1) &^ (packCacheAlign - 1)
	if js, err = json.Marshal(h); err != nil {
		return "", err
	}
	var errs []error
	for _, path := range c.paths {
		err := writePackFile(ctx, path, js, h.DataOffset, mem[:total])
		if err == nil {
			return path, nil
		}
		if ctx.Err() != nil {
			return "", ctx.Err()
		}
		errs = append(errs, err)
	}
	return "", errors.Join(errs...)
}

func writePackFile(ctx context.Context, path string, header []byte, dataOffset int64, data []byte) (err error) {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, ".chatloop-packed-*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	var pre bytes.Buffer
	pre.WriteString(packCacheMagic)
	_ = binary.Write(&pre, binary.LittleEndian, uint64(len(header)))
	pre.Write(header)
	if int64(pre.Len()) > dataOffset {
		return fmt.Errorf("pack cache header of %d bytes overruns its data offset %d", pre.Len(), dataOffset)
	}
	pre.Write(make([]byte, dataOffset-int64(pre.Len())))
	if _, err := tmp.Write(pre.Bytes()); err != nil {
		return err
	}
	const chunk = 8 << 20
	for off := 0; off < len(data); off += chunk {
		if err := ctx.Err(); err != nil {
			return err
		}
		if _, err := tmp.Write(data[off:min(off+chunk, len(data))]); err != nil {
			return err
		}
	}
	if err := tmp.Sync(); err != nil {
		return err
	}
	if err := tmp.Chmod(0o644); err != nil {
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// keepPackCache, in the background once the model's SHA-256 is known,
// writes the pack cache for weights just packed, or checks the cache the
// weights were mapped from and removes it if it was made from another
// file (the next load then packs again).
func (e *Engine) keepPackCache() {
	p, c, log := e.packed, e.packed.cache, e.log
	p.background(func(ctx context.Context) {
		sha, err := e.hash.wait()
		if err != nil || ctx.Err() != nil {
			return
		}
		if p.fromCache {
			if sha != c.hitSHA {
				log.Warn("the pack cache was made from another model file; removed, the next load packs again", "file", c.hit)
				if err := os.Remove(c.hit); err != nil {
					log.Warn("removing the pack cache", "file", c.hit, "err", err)
				}
			}
			return
		}
		path, err := c.save(ctx, p.jobs, p.mem, sha)
		switch {
		case err == nil:
			log.Info("packed weights cached for the next load", "file", path)
		case ctx.Err() == nil:
			log.Warn("could not cache the packed weights; every load packs them", "err", err)
		}
	})
}
