"""The machine description every benchmark prints beside its figures."""

from hub import machine

CPUINFO = """processor\t: 0
vendor_id\t: AuthenticAMD
model name\t: AMD EPYC 7B13
flags\t\t: fpu sse2 avx2 avx512f avx512_bf16

processor\t: 1
model name\t: AMD EPYC 7B13
flags\t\t: fpu sse2 avx2 avx512f avx512_bf16
"""


def test_reads_the_cpu_name_and_flags_from_cpuinfo(tmp_path, monkeypatch):
    (tmp_path / "cpuinfo").write_text(CPUINFO)
    monkeypatch.setattr(machine, "CPUINFO", tmp_path / "cpuinfo")
    assert machine.cpu_name() == "AMD EPYC 7B13"
    assert {"avx2", "avx512_bf16"} <= machine.cpu_flags()
    info = machine.describe()
    assert (info["cpu"], info["avx512f"], info["avx512_bf16"], info["amx_bf16"]) == ("AMD EPYC 7B13", True, True, False)
    assert machine.summary(info).startswith("AMD EPYC 7B13, ")
    assert "(AVX512-BF16 yes, AMX no)" in machine.summary(info)


def test_without_cpuinfo_it_still_names_something(tmp_path, monkeypatch):
    monkeypatch.setattr(machine, "CPUINFO", tmp_path / "missing")
    assert machine.cpu_name()  # platform.processor() or platform.machine()
    assert machine.cpu_flags() == set()
    assert "AVX512-BF16 no" in machine.summary()
