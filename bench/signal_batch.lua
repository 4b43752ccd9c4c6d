-- signal_batch.lua — scenario 3: POST /api/signals with a JSON array of 100 signals:
-- 90 dedup hits on the DEDUP_KEYS incidents run.sh created beforehand (dup-0 ..) and
-- 10 new keys. Script argument: a key prefix unique per run. signals/s = requests/s x 100.
dofile(os.getenv("BENCH_DIR") .. "/report.lua")

local thread_no = 0
function setup(thread)
   thread_no = thread_no + 1
   thread:set("tno", thread_no)
end

local prefix, n, d, keys = "", 0, 0, 100
function init(args)
   prefix = (args[1] or "bnew") .. "-" .. tostring(tno) .. "-"
   keys = tonumber(os.getenv("DEDUP_KEYS") or "100")
   d = ((tno or 1) * 37) % keys
   wrk.method = "POST"
   wrk.headers["Content-Type"] = "application/json"
end

function request()
   local parts = {}
   for j = 1, 100 do
      if j % 10 == 0 then
         n = n + 1
         parts[j] = '{"kind":"manual","key":"' .. prefix .. n ..
            '","summary":"bench batch new key"}'
      else
         d = d % keys + 1
         parts[j] = '{"kind":"manual","key":"dup-' .. (d - 1) ..
            '","summary":"bench batch dedup hit"}'
      end
   end
   return wrk.format(nil, nil, nil, "[" .. table.concat(parts, ",") .. "]")
end
