#!/usr/bin/env bash
# Measures the issue's goals for learnedsys.nas; writes JSON into $OUT (default /tmp/nas_goals).
# Usage: bash benchmarks/nas/measure_goals.sh [cnn10|throughput|kill|mlp10]...
set -u
OUT=${OUT:-/tmp/nas_goals}
mkdir -p "$OUT"
LS=.venv/bin/learnedsys
for step in "$@"; do
  case $step in
    cnn10)  # 10 minutes on digits, CNN space, 2 workers: held-out test accuracy of the retrained best
      $LS nas search --data digits --space cnn --strategy evolution --budget 10m --workers 2 --no-progress \
        --out "$OUT/cnn10-model" --json "$OUT/cnn10.json" 2> "$OUT/cnn10.log" ;;
    mlp10)  # 10 minutes on digits, MLP space, 2 workers: architectures evaluated, test accuracy
      $LS nas search --data digits --space mlp --strategy evolution --budget 10m --workers 2 --no-progress \
        --out "$OUT/mlp10-model" --json "$OUT/mlp10.json" 2> "$OUT/mlp10.log" ;;
    throughput)  # trials finished in 90 s by random search, 1 and 2 workers, local processes and Ray
      for b in local ray; do for w in 1 2; do
        $LS nas search --data digits --space mlp --strategy random --budget 90 --workers $w --backend $b \
          --no-progress --json "$OUT/tp-$b-$w.json" 2> "$OUT/tp-$b-$w.log"
      done; done ;;
    kill)  # kill -9 mid-search, then the same command again (it resumes): every finished trial must be kept
      rm -f "$OUT/kill.db" "$OUT/kill.txt"
      $LS nas search --data digits --space mlp --budget 120 --workers 2 --storage "$OUT/kill.db" \
        --study k --no-progress 2> "$OUT/kill1.log" & pid=$!
      sleep 45
      kids=$(pgrep -P $pid | tr '\n' ' ')
      kill -9 $pid; sleep 5
      alive=""; for k in $kids; do kill -0 $k 2>/dev/null && alive="$alive $k"; done
      echo "children of the killed search still alive 5 s later: ${alive:-none}" > "$OUT/kill-orphans.txt"
      for k in $alive; do kill -9 $k 2>/dev/null; done
      sqlite3_count() { .venv/bin/python -c "import optuna,sys; optuna.logging.set_verbosity(optuna.logging.WARNING); s=optuna.load_study(study_name='k', storage='sqlite:///'+sys.argv[1]); print(sum(t.user_attrs.get('learnedsys:status') in ('ok','nan','error') for t in s.trials))" "$1"; }
      echo "finished before kill: $(sqlite3_count "$OUT/kill.db")" >> "$OUT/kill.txt"
      $LS nas search --data digits --space mlp --budget 30 --workers 2 --storage "$OUT/kill.db" \
        --study k --no-progress --json "$OUT/kill-resume.json" 2> "$OUT/kill2.log"
      echo "finished after resume: $(sqlite3_count "$OUT/kill.db")" >> "$OUT/kill.txt" ;;
  esac
done
