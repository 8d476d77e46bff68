import httpx


def test_login_page_and_unknown_mcp_server_are_served(live_server_url):
    page = httpx.get(f"{live_server_url}/login/")
    assert page.status_code == 200
    assert "Sign in" in page.text
    missing = httpx.post(f"{live_server_url}/accounts/1/custom/nope/id/nope/mcp", json={})
    assert missing.status_code == 401  # without credentials, unknown servers are not told apart
    assert missing.headers["www-authenticate"].startswith("Bearer ")
