"""The OAuth 2.1 authorization server for MCP clients (SPEC §6.1), as thin glue over django-oauth-toolkit.

- `issuer`: the one issuer identifier of a request (RFC 8414 metadata, RFC 9207 `iss`, RFC 9728 PRM);
- `clients`: who may register (RFC 7591 redirect-URI policy, per-address limit) and the purge of
  registrations nobody uses;
- `cimd`: the fetcher of Client ID Metadata Documents;
- `resources`: RFC 8707 resource indicators → the MCP server they name;
- `views`, `urls`: DOT's views, subclassed where the above must apply.
"""
