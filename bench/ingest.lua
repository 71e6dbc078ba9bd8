-- wrk script: POST the fixture snapshot to /api/v1/ingest, each request
-- with the next collector key of this thread's share of keys.txt (one
-- push per server per 55 s: keys must not repeat within a run).
local threads = {}
local counter = 0

function setup(thread)
	thread:set("id", counter)
	counter = counter + 1
	table.insert(threads, thread)
end

function init(args)
	local nthreads = tonumber(args[3])
	keys = {}
	local i = 0
	for line in io.lines(args[1]) do
		if i % nthreads == id then
			keys[#keys + 1] = line:match("%S+ (%S+)")
		end
		i = i + 1
	end
	local f = io.open(args[2], "rb")
	body = f:read("*a")
	f:close()
	next_key = 1
end

function request()
	local key = keys[next_key]
	next_key = next_key % #keys + 1
	return wrk.format("POST", "/api/v1/ingest", {
		["Authorization"] = "Bearer " .. key,
		["Content-Type"] = "application/json",
	}, body)
end
