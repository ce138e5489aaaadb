"""Signal scans: HEPData pallets, the scan engines, the scan over a Dask client and contours."""
