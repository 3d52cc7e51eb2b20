#!/bin/bash
# The kit's side by side (../shared/bench/side-by-side.sh), unchanged except that both sides'
# load generator runs get `--pool POOL`: the revocation scenario (s4) revokes each token of a
# pool minted before the run once, and the kit's default pool (20,000 tokens) runs out during
# Portcullis's 2 s warm-up once it revokes more than 10,000 a second (docs/BENCHMARKS.md). Same
# arguments as the kit; run from the repository root after `cargo build --release`:
#
#   POOL=120000 crates/portcullis-server/benches/side-by-side-pool.sh s4 16,64 8
#
# The kit's own folder is not touched: its script is copied and the option added to the copy.
# As with the kit, export the bench clients' raised budgets first
# (PORTCULLIS_RATE_LIMITS__{ADDRESS__API,CLIENT,ACCESS_TOKEN}__{PER_SECOND,BURST}, docs/BENCHMARKS.md):
# without them the minting of the pool is rate-limited and Portcullis's runs fail.
set -eu
kit=$(cd ../shared/bench && pwd)
copy=$(mktemp -d /tmp/side-by-side-pool.XXXX)
trap 'rm -rf "$copy"' EXIT
# The copy reads the kit's folders where they are (its `here`).
sed -e "s|^here=.*|here=$kit|" \
    -e "s|--warmup 2 --server-pid|--warmup 2 --pool ${POOL:-120000} --server-pid|g" \
    "$kit/side-by-side.sh" >"$copy/side-by-side.sh"
grep -c -- "--pool ${POOL:-120000}" "$copy/side-by-side.sh" | grep -qx 2 || { echo "the kit's script changed: --pool not added to both runs"; exit 1; }
bash "$copy/side-by-side.sh" "$@"
