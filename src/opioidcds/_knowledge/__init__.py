"""Knowledge: what the library knows, loaded once from the cited, versioned data files.

Holds where the bundled knowledge lives (``paths``) and how its files are read (``files``), the
one unit registry (``units``), the OME conversion tables (``tables``), the drug, form and
plausibility vocabulary (``vocabulary``), the dm+d product catalogue and medicine classes
(``products``, built by ``product_names``), and the provenance of results (``provenance``).

May import: the foundation (``opioidcds._errors``, ``_base``, ``_version``) only.
"""
