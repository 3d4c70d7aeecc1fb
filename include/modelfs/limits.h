/*
** limits.h -- every number a model file can make us spend memory or time on.
**
** A file is untrusted input: each count, length or depth it declares is checked
** against one of these before anything is allocated or looped over.  A limit hit
** is a decode error with an offset, never a crash.  Change a number here, never
** hard-code one elsewhere.
*/
#ifndef MODELFS_LIMITS_H
#define MODELFS_LIMITS_H

/* Opcodes executed in one pickle stream.  The largest real model seen (a 100-tree
** forest) runs ~200k opcodes; 200M leaves room for gigabyte pickles yet stops a
** loop of cheap opcodes in seconds.  Tests lower it with the environment variable
** MODELFS_TEST_MAX_OPCODES=N (read by pickle_run; it can never raise the limit). */
#define MFS_MAX_OPCODES          200000000ULL

/* Values on the pickle stack, and open MARKs.  sklearn writes at most a few dozen
** of either; a million is hostile but still costs only ~8 MiB. */
#define MFS_MAX_STACK            1000000
#define MFS_MAX_MARKS            100000

/* Memo entries (PUT/MEMOIZE).  The memo map costs ~55 bytes an entry at its peak
** (while it grows), so 1M entries stay under ~55 MiB; a TfidfVectorizer with a
** 1M-word vocabulary memoizes ~1M strings. */
#define MFS_MAX_MEMO             1000000

/* Values created while decoding one model, and the arena bytes of one decoded
** graph (values, strings, small bytes).  A Value is 40 bytes: 112 MiB holds ~2M
** values with their strings (a 100-tree forest is ~10k values; a 2 MB compressed
** TfidfVectorizer ~40 MiB of graph).  With the memo (55 MiB) and the default
** cache (64 MiB) one hostile file cannot take the daemon past the 256 MiB bound
** issue 6 sets. */
#define MFS_MAX_VALUES           3000000
#define MFS_MAX_GRAPH_BYTES      (112ULL << 20)

/* Nesting depth of containers/objects when walking the graph (render, JSON).
** Deeper structures are shown as an error entry, never recursed into. */
#define MFS_MAX_DEPTH            1000

/* A single str/bytes copied into memory.  Larger bytes stay in the source and are
** read by offset; larger strings are an error. */
#define MFS_MAX_INLINE_BYTES     (1u << 16)
#define MFS_MAX_STRING           (64u << 20)

/* Dimensions of an ndarray, and total elements (checked against data length too). */
#define MFS_MAX_NDIM             64
#define MFS_MAX_ELEMENTS         (1ULL << 40)

/* Fields in one structured dtype. */
#define MFS_MAX_FIELDS           4096

/* Decompressed size of one stream (joblib compressors): 64 GiB. */
#define MFS_MAX_DECOMPRESSED     (64ULL << 30)

/* Bytes of a storage one read of a strided tensor view (a transposed matrix) may
** pull into memory at once to pick its elements; wider views read run by run. */
#define MFS_MAX_GATHER_WINDOW    (4u << 20)
/* Tensors of one file served through a derived Source (a strided view, a bfloat16
** widening, a zip member), ~150 bytes each outside the graph's arena: a 70B
** model's shard has ~1,000; 200,000 stay under ~30 MiB. */
#define MFS_MAX_DERIVED_SOURCES  200000

/* Bytes of a zip's central directory the PyTorch sniff reads looking for
** X/data.pkl when the first member is another (a re-packed checkpoint). */
#define MFS_SNIFF_DIRECTORY_BYTES (1u << 20)

/* A safetensors JSON header; the safetensors library refuses more than 100 MB. */
#define MFS_MAX_SAFETENSORS_HEADER (100ULL << 20)

/* Zip archives (skops, zipped pickles). */
#define MFS_MAX_ZIP_MEMBERS      100000
/* Members of the .npz inside a skops file (a scipy sparse matrix: data, indices,
** indptr, shape, format, row/col/offsets).  Each SparseMatrixNode opens it again,
** so its directory must stay small: 300 nodes x a 50000-member npz parsed 300
** directories (4.6 GB, 66 s). */
#define MFS_MAX_NPZ_MEMBERS      16
#define MFS_MAX_ZIP_MEMBER_SIZE  (16ULL << 30)
#define MFS_MAX_SCHEMA_JSON      (256u << 20)
#define MFS_MAX_JSON_DEPTH       1000
/* JSON values in one schema.json, counted before it is parsed: cJSON spends ~100
** bytes on each, so 1M values cost ~100 MiB (a 100-tree forest has ~3000; a
** deflated "[[],[],...]" of 200 MiB costs 170 KB on disk and 60M values). */
#define MFS_MAX_SCHEMA_NODES     1000000

/* Names generated for one directory before giving up on "~N" suffixes. */
#define MFS_MAX_COLLISIONS       100000
/* Longest (name, estimator) sequence laid out by step name (SPEC 3.2); the
** names are checked pairwise for being distinct. */
#define MFS_MAX_NAMED_STEPS      1024
/* Bytes of a key's escaped name kept in an entry name.  The kernel refuses names
** over NAME_MAX (255) bytes, so a longer key is cut here, leaving room for the
** longest "~100000" and ".json" the name can still get. */
#define MFS_MAX_NAME_STEM        240

/* Decompressing sources (source_decompress.c).  Past what the store below keeps
** (normally nothing is past it), zlib/gzip keep restart points (a 32 KiB window
** each) every SPACING decompressed bytes; when there are MAX of them every other
** one is dropped and the spacing doubles, so a 64 GiB stream still holds at most
** 8 MiB of windows.  A random read there inflates at most ~spacing bytes. */
#define MFS_RESTART_SPACING      (1ULL << 20)
#define MFS_MAX_RESTART_POINTS   256
/* Decoders per zlib/gzip source, so readers of different arrays do not restart
** each other; ~100 KiB each. */
#define MFS_DECOMP_CURSORS       4
/* The store: every codec keeps the bytes its first pass decompresses, the first
** MEM_CACHE in memory and the rest in an unlinked file in the cache dir, so a
** stream is decompressed once.  Freed with the source. */
#define MFS_DECOMP_MEM_CACHE     (4u << 20)
/* Decompressed bytes one source writes to its spill file (zlib/gzip too: the
** first pass keeps what it inflates, so serving an array never inflates it a
** second time).  All-zero 64 KiB runs become holes and cost no disk, but a
** bomb of other repeated bytes would fill the cache dir: past this the store
** stops growing and reads restart from restart points (zlib) or from the
** beginning (bz2/xz/lzma/lz4). */
#define MFS_MAX_SPILL            (16ULL << 30)
/* A skip over a compressed stream of unknown size inflates every byte it steps
** over (up to MFS_MAX_DECOMPRESSED): it goes in steps of this many bytes, ~50 ms
** of zlib each, and looks at the decode's stop flag between two (unmount) and
** steps aside there for waiting requests (MFS_DECODE_SLICE_MS). */
#define MFS_SKIP_STEP            (64ULL << 20)
/* Memory liblzma may use for one stream (the dictionary size comes from the
** file; preset 9 needs 64 MiB, a hostile .lzma header can ask for 4 GiB). */
#define MFS_MAX_DECODER_MEMORY   (256ULL << 20)
/* Zip members compressed with a method other than store/deflate (bzip2, lzma,
** zstd) cannot be served by offset and are read whole into memory up to this. */
#define MFS_MAX_ZIP_MEMBER_IN_MEMORY (64ULL << 20)

/* Symbolic links followed while resolving one path in the offline CLI (as the
** kernel's ELOOP bound): links in a tree point at earlier entries, so a longer
** chain means a renderer bug, never a real need. */
#define MFS_MAX_LINK_HOPS        40

/* A .npy header (skops members, legacy joblib companions).  numpy itself refuses
** headers over 10000 bytes unless told otherwise; records with thousands of fields
** need more, 1 MiB is beyond any of them. */
#define MFS_MAX_NPY_HEADER       (1u << 20)

/* Decodes the mount runs at once, each within the limits above: a slow or
** hostile file decodes beside the others instead of before them, and together
** they take at most this many cores' time.  They run on the mount's decode
** pool (pool.c), this many at once; a loop thread never waits for a decode (it
** hands the request to the pool), so requests that need no decode find one of
** the MFS_LOOP_THREADS loop threads free (unless -o max_threads= says
** otherwise) however many slow files are asked for at once. */
#define MFS_MAX_PARALLEL_DECODES 16
/* A decode that has run a slice while requests wait for the pool steps aside at
** its next checkpoint (pickle.c looks every ~1 ms of opcodes, a long skip every
** MFS_SKIP_STEP): parked, it keeps its memory but takes no core, and a thread
** of its own takes the waiting request, so a small model never decoded answers
** within a slice or two however many slow files were asked for before it
** (20 ms: below what a person notices, and many times the cost of the thread it
** starts).  Decodes begun and not ended,
** running or aside, are at most MFS_MAX_BEGUN_DECODES (the pool's threads):
** together they hold at most this many decoders' memory.  Past it nothing steps
** aside, and requests wait in the order they were asked. */
#define MFS_DECODE_SLICE_MS      20
#define MFS_MAX_BEGUN_DECODES    64
/* Costly sizes (.txt views) the mount remembers per model version. */
#define MFS_MAX_REMEMBERED_SIZES 4096
#define MFS_LOOP_THREADS         32

/* A file read lazily (source_file.c) proves each read is of the version opened
** (fstat after the read).  Files up to PROVE_MAX are summed per PROVE_BLOCK at
** open, so a touch or an append (bytes opened unchanged) can be told from a
** rewrite; of a bigger file only the ranges source_sum asks for are summed (an
** array when its file is opened: reading every byte at open would make `ls` of
** a 10 GB checkpoint read 10 GB), and bytes not summed before a change fail.
** A plain file served as itself sums only what it served (SOURCE_PROVE_SERVED).
** A read retried PROVE_TRIES times while the file keeps changing fails too. */
#define MFS_PROVE_BLOCK          (1u << 20)
#define MFS_PROVE_MAX            (64ULL << 20)
#define MFS_PROVE_TRIES          3

/* Renderer (render.c, text.c).  A .txt view is produced whole and cached, so the
** array behind it is bounded (the .npy of a bigger array is still served by
** offset).  Big ints beyond BIGINT_DECIMAL bytes (~40k digits; Python itself
** refuses str() past 4300 digits) print in hex: decimal conversion is quadratic. */
#define MFS_MAX_TEXT_VIEW        (64ULL << 20)
#define MFS_MAX_BIGINT_DECIMAL   16384

/* The mount (cache.c, fuse.c).  Paths of SOURCE the mount keeps a slot for: the
** slot number is 24 bits of every inode number (the rest: 8 bits of version, 32
** of node index). */
#define MFS_MAX_SLOTS            (1u << 24)
/* Seconds a name gone and forgotten keeps its slot before it is reclaimed: one
** that comes back meanwhile keeps its slot number, which is a listing's offset. */
#define MFS_SLOT_GRACE_S         2.0
/* Trees of replaced versions the kernel still holds nodes of (a walk's working
** directory, an open directory inside a model that changed): they cannot be
** decoded again, so they are kept outside -o cache_mb, at most this many and
** this many bytes.  Past either, the least recently used of them goes and its
** nodes below the model directory answer ESTALE (the model directory itself
** then lists the model as it is now): a writer churning versions under readers
** that hold each one costs at most this much. */
#define MFS_MAX_HELD_TREES       64
#define MFS_HELD_TREES_BYTES     (64ULL << 20)
/* Trees the cache looks at, least recently used first, for one the kernel holds
** no node of before it evicts one it does (cache.c). */
#define MFS_EVICT_SCAN           64
/* Decoded trees kept by default (-o cache_mb=N), and at most this many at once
** whatever their size: each holds its source file open.  The mount raises its
** open-file limit and keeps up to (limit - MFS_FD_RESERVE) / 2 trees, between
** the floor and the cap: a small tree costs ~50 KiB, so 1,000 of them fit the
** default budget, and a shell glob that stats 1,000 models before cat opens
** them must not find the first ones evicted (each would be decoded twice). */
#define MFS_CACHE_MB_DEFAULT     64
/* The largest -o cache_mb=N taken (1 TiB): beyond it the number is a typo. */
#define MFS_CACHE_MB_MAX         (1u << 20)
#define MFS_CACHE_MAX_MODELS     256
#define MFS_CACHE_MAX_MODELS_CAP 65536
#define MFS_FD_RESERVE           256
/* Bytes of trees freed since the last malloc_trim before the cache trims
** again: glibc keeps freed heap pages (in every thread's arena), so without
** it RSS stays at its peak after evictions; trimming walks the whole heap, so
** not after every small eviction. */
#define MFS_TRIM_BYTES           (4u << 20)
/* Bytes of a (decompressed) stream identify.c hands the formats' sniffers: enough
** for a protocol-0 pickle to reach its first import or STOP, or to show that it
** is text (CPython's unpickler refuses text within a few bytes). */
#define MFS_IDENT_BYTES          4096
/* Archives inside archives (a zip member that is a zip or a 7z) are opened this
** deep; below that a member is shown as bytes, so a zip quine ends. */
#define MFS_MAX_ARCHIVE_DEPTH    4
/* A file that keeps changing while it is decoded is retried this often, then EIO. */
#define MFS_DECODE_TRIES         3
/* After an open answers ESTALE, the versions the next this-many lookups of that
** name hand the kernel may be its one retry, which opens a plain file as it is
** then instead of failing (fuse.c, do_open).  Several readers may look it up
** in between; past these, a stale open answers ESTALE again (and marks anew). */
#define MFS_RETRY_MARKS          16

/* A zip member small enough to inflate whole into memory when first opened
** (skops .npy/.bin members); larger deflated members are streamed. */
#define MFS_ZIP_MEMBER_IN_MEMORY (1u << 20)
/* What one streamed zip member costs while its Source lives (libzip's file
** handle and zlib state, ~25 KiB measured): counted with the members inflated
** into memory against MFS_MAX_GRAPH_BYTES, so a schema naming one member from
** 20000 nodes cannot hold 20000 open inflaters. */
#define MFS_ZIP_STREAM_COST      (32u << 10)

/* Decimal digits of one integer written as text (skops JSON, protocol-0 INT/LONG).
** Python 3.11 refuses str<->int conversions past 4300 digits for the same
** reason: the conversion is quadratic. */
#define MFS_MAX_INT_DIGITS       4300

/* compat.json: a path reported for an estimator deeper than this is cut at its
** prefix; a pickled code object's line table larger than this is not inspected;
** a sidecar "<model>.meta" larger than this is ignored (declared metadata is a
** few hundred bytes). */
#define MFS_MAX_COMPAT_PATH      4096
#define MFS_MAX_COMPAT_LINETABLE (1u << 20)
#define MFS_MAX_COMPAT_META      (1u << 20)

/* Pickles nested inside pickles (joblib object arrays, each holding arrays). */
#define MFS_MAX_NESTED_PICKLES   16
/* Tree paths meta.json's verdict_where and scan --where list for one global. */
#define MFS_MAX_WHERE_PATHS      1000
/* Pickles inside bytes values one pickle may try to decode (SPEC 5). */
#define MFS_MAX_NESTED_DECODES   10000
/* Pickles after the first one's STOP that one file may append (__trailing__/N). */
#define MFS_MAX_TRAILING_PICKLES 1024

/* Structured dtypes: nodes of one dtype tree counted with repeats (shared field
** dtypes count each time), and nesting depth.  Real ones have a few dozen nodes
** and depth 2-3; the caps keep every walk over a dtype small and shallow. */
#define MFS_MAX_DTYPE_NODES      65536
#define MFS_MAX_DTYPE_DEPTH      32

/* Bytes of an array rebuilt in memory because its stored order is neither C nor
** Fortran (numpy >= 2.3 _frombuffer with an axis permutation). */
#define MFS_MAX_MATERIALISE      (64ULL << 20)
/* Blocks of one pickled pandas frame shown as columns; a frame of more is shown
** as its BlockManager. */
#define MFS_MAX_PANDAS_BLOCKS    16384
/* Cells (rows x columns) of a frame shown as frame.csv: the view is made whole
** in memory; a bigger frame has its columns only. */
#define MFS_MAX_CSV_CELLS        (4ULL << 20)

/* .txt views of big arrays (render.c).  An array of more than TEXT_WHOLE data
** bytes is not kept as text: its view is made again, in blocks of about
** TEXT_BLOCK data bytes, on each read, and found through the byte offset of
** every block (8 bytes per block), so a view of any size is served with bounded
** memory.  What must still be made at once -- one row, or a whole Fortran-order
** array that needs reordering -- is bounded by MFS_MAX_TEXT_VIEW. */
#define MFS_TEXT_WHOLE           (1ULL << 20)
#define MFS_TEXT_BLOCK           (64u << 10)
/* Sizing a big .txt view looks at the pool's checkpoint every this many blocks
** (~1 MiB of text, a millisecond or two). */
#define MFS_TEXT_PAUSE_BLOCKS    16

/* The reviewer's view (summary.txt, modelfs diff).  Arrays are compared and
** ranked in memory: one array of more data bytes is described, not compared.
** A summary lists at most SUMMARY_LINES entries per section and SUMMARY_TOP
** coefficients; a diff reports at most DIFF_EXAMPLES entries of one flat
** container (a vocabulary) one by one before it counts the rest. */
#define MFS_REVIEW_MAX_ARRAY     (256ULL << 20)
#define MFS_SUMMARY_LINES        16
#define MFS_SUMMARY_TOP          10
#define MFS_DIFF_EXAMPLES        8
/* One screen stays one screen: a value's text is cut at SUMMARY_TEXT bytes (a
** diff's at DIFF_TEXT), at most SUMMARY_NAMES names (features, columns) and
** SUMMARY_SMALL elements of a numeric array are listed, a name column is at most
** SUMMARY_WIDTH wide.  Importances are computed for at most REVIEW_MAX_FEATURES
** features (8 bytes each). */
#define MFS_SUMMARY_TEXT         60
#define MFS_SUMMARY_NAMES        12
#define MFS_SUMMARY_SMALL        8
#define MFS_SUMMARY_WIDTH        40
#define MFS_DIFF_TEXT            80
#define MFS_REVIEW_MAX_FEATURES  (1 << 24)

/* limit, or less when the environment variable env (MODELFS_TEST_...) holds a
** smaller decimal number: tests make a limit fire on a small file.  It never
** raises a limit. */
#include <stdint.h>
uint64_t limit_lowered(const char *env, uint64_t limit);

#endif
