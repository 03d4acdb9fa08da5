from typing import Any

AVX512: int  # 1 if compiled to AVX-512 registers (the lanes are used only then)

def run_lanes(
    t: Any,
    acc: Any,
    gyro: Any,
    f32: bool,
    params: Any,
    t_origin: float,
    bin_s: float,
    out: Any,
    n_bins: int,
    bias: Any,
    start: Any,
    own: Any,
    end: Any,
    hi_bin: Any,
    m: int,
) -> tuple[bool, float]: ...
