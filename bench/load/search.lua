-- wrk script: POST /store/items/search, cycling through the queries in $QUERIES.
-- $MODE: keyword | semantic | hybrid | (empty: the server's default, hybrid with the
-- built-in embedder). $PREFIX: the namespace prefix as a JSON array (default ["users"]).
local queries = {}
for line in io.lines(os.getenv("QUERIES")) do
    queries[#queries + 1] = line
end
local mode = os.getenv("MODE") or ""
local mode_field = mode ~= "" and (',"mode":"' .. mode .. '"') or ""
local prefix = os.getenv("PREFIX") or '["users"]'
local headers = { ["Content-Type"] = "application/json" }
local next_thread = 0

function setup(thread)
    next_thread = next_thread + 1
    thread:set("position", next_thread * 7919)
end

function init(args)
    -- `position` was set by setup(): threads start at different queries.
    position = position or 0
end

function request()
    position = position % #queries + 1
    -- The generated queries hold only letters, digits, spaces and - ; . (no JSON escaping).
    local body = '{"namespace_prefix":' .. prefix .. ',"query":"' .. queries[position] .. '","limit":10' .. mode_field .. '}'
    return wrk.format("POST", "/store/items/search", headers, body)
end

dofile(os.getenv("BENCH_DIR") .. "/report.lua")
