def test_a_wrong_method_gets_the_api_error_format(client, alice):
    client.force_login(alice)
    response = client.put("/apimcpserver?id=x", data="{}", content_type="application/json")
    assert response.status_code == 405
    body = response.json()
    assert body["code"] == "UnsupportedHTTPMethod"
    assert "PUT is not supported on /apimcpserver" in body["message"]
    assert body["requestId"]
    assert "GET" in response["Allow"]


def test_console_pages_keep_their_own_405(client, alice):
    client.force_login(alice)
    response = client.get("/logout/")
    assert response.status_code == 405
    assert not response.get("Content-Type", "").startswith("application/json")
