-- signal_dedup.lua — scenario 2: POST /api/signals, one signal per request, every key
-- one of the DEDUP_KEYS incidents run.sh created beforehand (keys dup-0 .. dup-N-1), so
-- every request is a dedup hit (occurrences + 1, an incident_updated event).
dofile(os.getenv("BENCH_DIR") .. "/report.lua")

local thread_no = 0
function setup(thread)
   thread_no = thread_no + 1
   thread:set("tno", thread_no)
end

local bodies, i = {}, 0
function init(args)
   local keys = tonumber(os.getenv("DEDUP_KEYS") or "100")
   for k = 0, keys - 1 do
      bodies[#bodies + 1] =
         '{"kind":"manual","key":"dup-' .. k .. '","summary":"bench dedup hit"}'
   end
   i = ((tno or 1) * 37) % #bodies -- threads start at different keys
   wrk.method = "POST"
   wrk.headers["Content-Type"] = "application/json"
end

function request()
   i = i % #bodies + 1
   return wrk.format(nil, nil, nil, bodies[i])
end
