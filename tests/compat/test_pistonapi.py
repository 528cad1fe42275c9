"""pistonapi 1.0.1 against Monaco's Piston routes: its form-encoded execute."""

from pistonapi import PistonAPI


def test_form_encoded_execute(base_url):
    piston = PistonAPI(endpoint=f"{base_url}/api/v2")
    assert "python" in piston.runtimes
    out = piston.execute(language="python", version="3.11.0", code="import sys\nprint(sys.argv[1:], input())", stdin="in", args=["a", "b"])
    assert out == "['a', 'b'] in\n"
    assert piston.execute(language="c++", version="*", code="#include <cstdio>\nint main(){std::puts(\"cpp\");}") == "cpp\n"
