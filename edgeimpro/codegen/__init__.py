"""Code generation: TFLM export, AOT C emission, the memory planner. Imports the graph layer only."""
