-- wrk: 16 requests for the URL's path per write (HTTP/1.1 pipelining), as TechEmpower's plaintext test does.
init = function(args)
  local r = {}
  for i = 1, 16 do r[i] = wrk.format(nil, wrk.path) end
  req = table.concat(r)
end
request = function() return req end
