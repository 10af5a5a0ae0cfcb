-- lib/emit.lua - a line emitter for C source.
-- Keeps indentation so templates read as the code they produce:
--   local e = emit.new()
--   e:open("for (int x = 0; x < %d; x++) {", n)
--   e:line("acc[x] += %s;", expr)
--   e:close("}")
--   return e:text()
local M = {}
local Emitter = {}
Emitter.__index = Emitter

function M.new()
	return setmetatable({ lines = {}, depth = 0 }, Emitter)
end

local function fmt(s, ...)
	if select("#", ...) == 0 then return s end
	return string.format(s, ...)
end

-- One line at the current depth; an empty call gives a blank line.
function Emitter:line(s, ...)
	if s == nil or s == "" then
		self.lines[#self.lines + 1] = ""
	else
		self.lines[#self.lines + 1] = string.rep("\t", self.depth) .. fmt(s, ...)
	end
end

-- A line that opens a block: what follows is one level deeper.
function Emitter:open(s, ...)
	self:line(s, ...)
	self.depth = self.depth + 1
end

-- A line that closes a block.
function Emitter:close(s, ...)
	assert(self.depth > 0, "emit: close without open")
	self.depth = self.depth - 1
	self:line(s or "}", ...)
end

-- A statement with a one-line body, e.g. a for or if without braces.
function Emitter:single(head, body)
	self:line(head)
	self.depth = self.depth + 1
	self:line(body)
	self.depth = self.depth - 1
end

-- A comment block, each line prefixed with " * ".
function Emitter:comment(lines)
	self:line("/*")
	for _, l in ipairs(lines) do
		if l == "" then self:line(" *") else self:line(" * %s", l) end
	end
	self:line(" */")
end

function Emitter:text()
	assert(self.depth == 0, "emit: unclosed block")
	return table.concat(self.lines, "\n") .. "\n"
end

return M
