-- wrk script: PUT /store/items, a new key per request (namespace ["bench", "puts"]),
-- texts from the lines of $QUERIES padded into sentences.
local texts = {}
for line in io.lines(os.getenv("QUERIES")) do
    texts[#texts + 1] = line
end
local headers = { ["Content-Type"] = "application/json" }
local next_thread = 0
local counter = 0

function setup(thread)
    next_thread = next_thread + 1
    thread:set("thread_id", next_thread)
end

function request()
    counter = counter + 1
    local text = texts[counter % #texts + 1]
    local body = '{"namespace":["bench","puts"],"key":"t' .. thread_id .. '-' .. counter ..
        '","value":{"text":"The user asked: ' .. text .. '","kind":"note"}}'
    return wrk.format("PUT", "/store/items", headers, body)
end

dofile(os.getenv("BENCH_DIR") .. "/report.lua")
