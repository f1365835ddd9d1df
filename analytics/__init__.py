"""Pure sales analytics over DataFrames: health, recommend, pipeline, forecast, leads, segments, coaching."""
