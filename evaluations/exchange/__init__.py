"""Bulk exchange of progress data: department templates, imports and plan exports.

- ``columns``: the one definition of the progress sheet's columns.
- ``sheets``: reading uploaded XLSX/CSV files and writing XLSX/CSV files.
- ``templates``: the pre-filled progress sheet of a department for a round.
- ``importer``: validate every row, then write in one transaction (``progress_import``).
- ``exporter``: the whole plan as a ``dxapi-plan/1`` document or as CSV tables, streamed.
"""
