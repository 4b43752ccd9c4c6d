-- list.lua — scenario 4: GET /api/incidents?status=open&per_page=50 (the path is given
-- in the URL on wrk's command line) over the store run.sh seeded.
dofile(os.getenv("BENCH_DIR") .. "/report.lua")
