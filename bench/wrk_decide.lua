-- wrk script for bench/load.py: POST /v1/decisions for a random customer of the seeded ones.
-- NBO_BENCH_KEY (API key, empty for the floor) and NBO_BENCH_CUSTOMERS come from the environment.
local key = os.getenv("NBO_BENCH_KEY") or ""
local customers = tonumber(os.getenv("NBO_BENCH_CUSTOMERS") or "100000")
local headers = { ["Content-Type"] = "application/json" }
if key ~= "" then headers["Authorization"] = "Bearer " .. key end

function init(args)
  math.randomseed(os.time() + tonumber(tostring({}):sub(8), 16) % 1000)
end

function request()
  local body = string.format(
    '{"customer_id":"C%06d","channel":"web","interaction":"visit"}',
    math.random(0, customers - 1))
  return wrk.format("POST", "/v1/decisions", headers, body)
end
