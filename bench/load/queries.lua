-- Shared by the search scripts (dofile'd first): `queries`, the lines of $QUERIES; JSON
-- headers; and a per-thread starting `position`, so wrk's threads start at different queries.
queries = {}
for line in io.lines(os.getenv("QUERIES")) do
    queries[#queries + 1] = line
end
headers = { ["Content-Type"] = "application/json" }
-- $API_KEY: sent as x-api-key (a server with keys; bench/load/tenants.sh).
if os.getenv("API_KEY") then
    headers["x-api-key"] = os.getenv("API_KEY")
end
local next_thread = 0

function setup(thread)
    next_thread = next_thread + 1
    thread:set("position", next_thread * 7919)
end

function init(args)
    -- `position` was set by setup().
    position = position or 0
end
