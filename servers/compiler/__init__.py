"""Tool compilation (pure, no Django): a server's settings + catalog documents → MCP tools.

Public API (used by the management API, the console and the MCP runtime):

- `compile_server(server, catalog) -> CompiledServer` and the cached variant
  `compile_server_cached(server, catalog, revision_ids=...)` (`compiled_cache`, `cache_key`);
- `CompiledServer`, `ToolBinding` (the execution contract, see its docstring);
- `validate_additional_descriptions(entries, catalog) -> list[ValidationProblem]`;
- `prompt_variables(content)`, `render_prompt(prompt, arguments)`, `PromptError`;
- `select(names, selectors)`, `tool_name_candidate(product, version, api)`.
"""

from servers.compiler.cache import CompiledCache, cache_key, compile_server_cached, compiled_cache
from servers.compiler.overrides import validate_additional_descriptions
from servers.compiler.prompts import PromptError, prompt_variables, render_prompt
from servers.compiler.server import MAX_RECOMMENDED_APIS, compile_server, select, tool_name_candidate
from servers.compiler.types import CompiledServer, ToolBinding, ValidationProblem

__all__ = [
    "MAX_RECOMMENDED_APIS",
    "CompiledCache",
    "CompiledServer",
    "PromptError",
    "ToolBinding",
    "ValidationProblem",
    "cache_key",
    "compile_server",
    "compile_server_cached",
    "compiled_cache",
    "prompt_variables",
    "render_prompt",
    "select",
    "tool_name_candidate",
    "validate_additional_descriptions",
]
