#!/usr/bin/env bash
# tolk on a CUDA machine in one go: the GPU parity tests, then the peers table (tolk against
# transformers and CTranslate2 on the same GPU, scripts/bench_peers.py --device cuda).
#
# Made for a GPU box that has python3 with torch, transformers and sentencepiece (and the CUDA 13
# wheels torch brings) but no Rust toolchain, so the binaries arrive built (x86-64-v3, CUDA 13.0):
#   eval "$(bash ../shared/cuda/toolchain.sh)"
#   export RUSTFLAGS="-C target-cpu=x86-64-v3" CARGO_TARGET_DIR=~/.cache/tolk-cuda-release
#   cargo build --release --no-default-features --features cuda --bin tolk
#   cargo test --release --no-default-features --features cuda --test it --no-run
#   mkdir -p .gpu && xz -T2 -c $CARGO_TARGET_DIR/release/tolk > .gpu/tolk.xz
#   xz -T2 -c <the it-* test binary from the line above> > .gpu/it.xz
#   cp ../shared/corpus/da/us-russia-syria-talks.txt .gpu/da.txt   # the SentencePiece corpus
#   git rev-parse HEAD > .gpu/commit                                 # named in the results
#   CTranslate2 when the machine has none: the cp312 manylinux wheel of ctranslate2==4.8.5,
#   unzipped and packed as .gpu/ct2-site.tar.xz (about 25 MB against the wheel's 43)
# then, on the GPU machine from the repository root:  bash scripts/bench_gpu.sh
# Results (peers-cuda.json/.md/.png, parity.log, topk-ab.log, events-ab.log, run.log) go to $OUT, default docs/bench.
set -uo pipefail
OUT=${OUT:-$PWD/docs/bench}
mkdir -p "$OUT"
exec > >(tee "$OUT/run.log") 2>&1
T0=$(date +%s)
stamp() { echo "== $* (+$(( $(date +%s) - T0 )) s)"; }

stamp machine
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader || exit 1
grep -m1 "model name" /proc/cpuinfo; nproc

unxz() { python3 -c "import lzma,shutil,sys; shutil.copyfileobj(lzma.open(sys.argv[1]), open(sys.argv[2],'wb'))" "$1" "$2"; }
BIN=/tmp/tolk-gpu
mkdir -p $BIN
for b in tolk it; do
  if [ -f .gpu/$b.xz ]; then unxz .gpu/$b.xz $BIN/$b; elif [ -f .gpu/$b ]; then cp .gpu/$b $BIN/$b; fi
  chmod +x $BIN/$b 2>/dev/null
done
# CTranslate2 from the carried package when the machine has none.
if ! python3 -c "import ctranslate2" 2>/dev/null && [ -f .gpu/ct2-site.tar.xz ]; then
  mkdir -p /tmp/site
  python3 -c "import tarfile,sys; tarfile.open(sys.argv[1]).extractall(sys.argv[2])" .gpu/ct2-site.tar.xz /tmp/site
  export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH}
fi
python3 -c "import ctranslate2; print('ctranslate2', ctranslate2.__version__)"

# CUDA libraries for tolk (cuBLAS 13, cuRAND, NVRTC): the Python environment's NVIDIA wheels.
LIBS=$(python3 - <<'EOF'
import glob, os, site
dirs = set()
for sp in site.getsitepackages():
    for f in glob.glob(os.path.join(sp, "nvidia", "**", "lib*.so*"), recursive=True):
        dirs.add(os.path.dirname(f))
print(":".join(sorted(dirs)))
EOF
)
# CTranslate2 4.8 wheels open libcublas.so.12 at run time; offer it the CUDA 13 library under
# that name (the cuBLAS calls it makes kept their signatures).
SHIM=/tmp/tolk-cublas12
mkdir -p $SHIM
CUBLAS13=$(for d in ${LIBS//:/ }; do ls "$d"/libcublas.so.13* 2>/dev/null; done | head -1)
[ -n "$CUBLAS13" ] && ln -sf "$CUBLAS13" $SHIM/libcublas.so.12
export LD_LIBRARY_PATH=$SHIM:$LIBS${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
echo "cuBLAS: ${CUBLAS13:-none found}"

# The test binary reads fixtures from the folder it was built in (TOLK_BUILT_IN).
BUILT_IN=${TOLK_BUILT_IN:-/work/main}
if [ ! -e "$BUILT_IN" ]; then mkdir -p "$(dirname "$BUILT_IN")" && ln -s "$PWD" "$BUILT_IN"; fi

stamp "smoke: tolk translate on cuda (tiny Marian fixture)"
echo "Tak. Regeringen fremlagde i dag et nyt forslag." |
  timeout 120 $BIN/tolk translate --model tests/fixtures/marian/tiny-st --device cuda --quiet

stamp "parity tests on cuda (f32, against the transformers goldens)"
TOLK_TEST_DEVICE=cuda timeout 300 $BIN/it marian_parity t5_parity 2>&1 | tee "$OUT/parity.log" | tail -15

stamp "peers on cuda"
[ -f .gpu/commit ] && export TOLK_COMMIT=$(cat .gpu/commit)
PYTHONUNBUFFERED=1 TOLK_DA_CORPUS=$PWD/.gpu/da.txt timeout 420 python3 scripts/bench_peers.py --device cuda \
  --tolk $BIN/tolk --threads "${THREADS:-4}" --batch "${BATCH:-1,8,32}" --beams 1,4 --warmup 1 \
  --repeat "${REPEAT:-3}" --max-load 1000 --wait 0 --workdir /tmp/tolk-peers --out "$OUT"

stamp "beam choice: one kernel against tensor operations (TOLK_TOPK_KERNEL=0), f32, 4 beams"
for v in 1 0; do
  echo "TOLK_TOPK_KERNEL=$v"
  TOLK_TOPK_KERNEL=$v timeout 120 $BIN/tolk bench --model /tmp/tolk-peers/hf --device cuda --dtype f32 \
    --beams 4 --batch "${BATCH:-1,8,32}" --src-len 64 --new-tokens 64 --warmup 1 --repeat 3 --quiet
done 2>&1 | tee "$OUT/topk-ab.log"

stamp "CUDA event tracking on (TOLK_CUDA_EVENT_TRACKING=1) against off (the default), f32"
for v in 1 0; do
  echo "TOLK_CUDA_EVENT_TRACKING=$v"
  TOLK_CUDA_EVENT_TRACKING=$v timeout 120 $BIN/tolk bench --model /tmp/tolk-peers/hf --device cuda \
    --dtype f32 --beams 1,4 --batch "${BATCH:-1,8,32}" --src-len 64 --new-tokens 64 --warmup 1 --repeat 3 --quiet
done 2>&1 | tee "$OUT/events-ab.log"
stamp done
