#!/bin/bash
# Launch → rows on screen, in a real X window: starts Xvfb, launches the app on a log folder,
# screenshots the window about every 0.1 s for SECONDS, then keeps (as PNG) only the frames that
# differ from the one before, named by their time since launch. A person looks at them and
# finds the first frame that shows the grid's rows and "Rows loaded: N" in the status bar.
# Software OpenGL (Mesa llvmpipe), so the frames cost CPU a GPU would take.
#
# usage: benches/launch_to_rows.sh BINARY LOG_FOLDER OUT_FOLDER [SECONDS]
set -eu
bin=$1 logs=$2 out=$3 secs=${4:-20}
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$out"
rm -f "$out"/*.xwd "$out"/*.png
export DISPLAY=:77
Xvfb :77 -screen 0 1280x800x24 >/dev/null 2>&1 &
xvfb=$!
trap 'kill $xvfb 2>/dev/null || true' EXIT
sleep 1
export LIBGL_ALWAYS_SOFTWARE=1
home=$(mktemp -d)
start=$(date +%s.%N)
HOME=$home "$bin" "$logs" >/dev/null 2>&1 &
app=$!
i=0
while :; do
  t=$(echo "$(date +%s.%N) - $start" | bc)
  [ "$(echo "$t > $secs" | bc)" = 1 ] && break
  xwd -root -silent >"$out/$(printf %04d $i)-${t}s.xwd" 2>/dev/null || true
  i=$((i + 1))
  sleep 0.05
done
kill $app 2>/dev/null || true
rm -rf "$home"
previous=""
for f in "$out"/*.xwd; do
  sum=$(md5sum <"$f" | cut -c1-32)
  if [ "$sum" != "$previous" ]; then
    python3 "$here/xwd_to_png.py" "$f"
    echo "changed at $(basename "${f%.xwd}" | cut -d- -f2)"
  fi
  previous=$sum
  rm -f "$f"
done
