-- signal_new.lua — scenario 1: POST /api/signals, one signal per request, every key
-- new (so every request creates an incident). Script argument: a key prefix that is
-- unique per run (run.sh passes one), so a warm-up and the measured run never collide.
dofile(os.getenv("BENCH_DIR") .. "/report.lua")

local thread_no = 0
function setup(thread)
   thread_no = thread_no + 1
   thread:set("tno", thread_no)
end

local prefix, n = "", 0
function init(args)
   prefix = (args[1] or "new") .. "-" .. tostring(tno) .. "-"
   wrk.method = "POST"
   wrk.headers["Content-Type"] = "application/json"
end

function request()
   n = n + 1
   return wrk.format(nil, nil, nil,
      '{"kind":"manual","key":"' .. prefix .. n .. '","summary":"bench new key"}')
end
