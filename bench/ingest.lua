-- wrk script: POST the fixture snapshot to /api/v1/ingest, each request
-- with the next collector key of this thread's share of the keys file (one
-- push per server per 55 s: keys must not repeat within a run).
-- Environment: BENCH_KEYS (file of "srv_id key" lines), BENCH_BODY (the
-- snapshot file), BENCH_THREADS (wrk's -t).
local threads = {}
local counter = 0

function setup(thread)
	thread:set("id", counter)
	counter = counter + 1
	table.insert(threads, thread)
end

function init(args)
	local nthreads = tonumber(os.getenv("BENCH_THREADS"))
	keys = {}
	local i = 0
	for line in io.lines(os.getenv("BENCH_KEYS")) do
		if i % nthreads == id then
			keys[#keys + 1] = line:match("%S+ (%S+)")
		end
		i = i + 1
	end
	local f = io.open(os.getenv("BENCH_BODY"), "rb")
	body = f:read("*a")
	f:close()
	next_key = 1
end

function request()
	local key = keys[next_key]
	next_key = next_key % #keys + 1
	return wrk.format("POST", os.getenv("BENCH_PATH") or "/api/v1/ingest", {
		["Authorization"] = "Bearer " .. key,
		["Content-Type"] = "application/json",
	}, body)
end
