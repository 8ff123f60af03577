"""Board registry: boards are data (DESIGN.md §2). Adding a board adds a record here and a C folder."""

from edgeimpro.boards.registry import BOARDS, Board, get_board

__all__ = ["BOARDS", "Board", "get_board"]
