"""Device limits the wrapped launchers need."""

MAX_Y_GRID = 65535  # CUDA's grid y limit (Inductor's get_max_y_grid): Grid2DWithYZOverflow spills y blocks past it into z
