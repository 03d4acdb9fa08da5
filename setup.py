"""Build glue for the compiled extension; the project's metadata is in pyproject.toml.

``features._orientation_lanes`` (the orientation filter as SIMD lanes) is compiled for the machine
that builds it (``-march=native``): nuchal is installed with ``pip install -e .`` on the machine
that runs it, and the lanes are only faster with that machine's widest vectors. They are used only
where those are AVX-512 (``_orientation_lanes.AVX512``): with AVX2 the 8-lane state spills out of
the registers and the scalar numba filter is faster. A wheel built this way must not be copied to
an older CPU.

The extension is optional: on a machine without a C compiler the install still succeeds (setuptools
prints why the build failed) and features.orientation runs the scalar numba filter instead,
about 2x slower, saying so in its log.
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "features._orientation_lanes",
            ["features/_orientation_lanes.c"],
            extra_compile_args=["-O3", "-march=native", "-fno-math-errno"],
            optional=True,
        )
    ]
)
